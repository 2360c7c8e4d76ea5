"""Zero-shot accuracy on real people: a model run as it is (default: the shipped one), never fine-tuned, on every
video of the real sets, each data-set class scored against the model classes that count as right for it. Reports
per set video and clip accuracy, per-class accuracy and which model class each miss went to.

    python bench/bench_zeroshot.py                                      # the shipped model, both sets
    python bench/bench_zeroshot.py -m run/best.onnx --sets ud810 --json zeroshot.json

Data: ../shared/data/real (weizmann4: wave2, wave1, jack, bend; 7 people, each recording also mirrored as `_flip`;
ud810: a1-a3, 2 people). Whole folders are scored, every video of every person (mirrors included), no split.
Which model classes count as right: bench/label_maps/<set>.csv, read and scored by the very code of `actionrec
evaluate --label-map` (`actionrec.scoring.read_label_map` and `evaluate`): a video's score is the mean softmax of
K evenly spaced windows, cut and preprocessed as the model's own file says (its frame rate included); a clip is each
window alone. A model with a `no_action` class gets its `no_action` answers counted apart (they are misses too).
Markdown on stdout (the first line names the CPU and the model file), progress on stderr, --json OUT for all of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
REAL = ROOT.parent / "shared" / "data" / "real"
LABEL_MAPS = Path(__file__).resolve().parent / "label_maps"  # <set>.csv: data class,model class[,model class...]
SETS = ("weizmann4", "ud810")
NO_ACTION = "no_action"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-m", "--model", default="default", help="a .safetensors or .onnx file, or an installed name")
    p.add_argument("--data", type=Path, default=REAL, help="folder holding weizmann4/ and ud810/")
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS, help="which sets to score")
    p.add_argument("-K", "--clips-per-video", type=int, default=10, help="evenly spaced windows per video")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="as evaluate's")
    p.add_argument("--threads", type=int, default=None, help="CPU threads [default: the back end's own]")
    p.add_argument("--batch-size", type=int, default=8, help="windows per network call")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.clips_per_video < 1:
        p.error("-K must be at least 1")
    return args


def score_set(recognizer, name: str, folder: Path, *, clips_per_video: int, batch_size: int) -> dict:
    """Every video of one set through `actionrec.scoring.evaluate` with the set's label map; the report's numbers,
    plus per class where its misses went (model classes) and the count of `no_action` answers."""
    from actionrec.data import DataLayout, open_dataset
    from actionrec.scoring import evaluate, read_label_map

    map_path = LABEL_MAPS / f"{name}.csv"
    mapping = read_label_map(map_path, recognizer.meta.labels)
    split = open_dataset(folder, layout=DataLayout.folder, val_fraction=0.0)
    items = list(split.train) + list(split.val)
    total = sum(split.labels[it.label] in mapping for it in items)  # evaluate scores these, leaves out the rest
    done = 0

    def progress(item, error: str | None) -> None:
        nonlocal done
        done += 1
        print(f"  {name} {done}/{total} {item.path.name}" + (f": skipped: {error}" if error else ""),
              file=sys.stderr)  # fmt: skip

    report = evaluate(
        recognizer, items, split.labels, clips_per_video=clips_per_video, batch_size=batch_size,
        progress=progress, label_map=mapping,
    )  # fmt: skip
    misses: dict[str, Counter] = {row.label: Counter() for row in report.per_class}
    for o in report.outcomes:
        if o.predicted not in mapping[o.label]:
            misses[o.label][o.predicted] += 1
    has_no_action = NO_ACTION in recognizer.meta.labels
    return {
        "set": name,
        "data": str(folder),
        "label_map": str(map_path.relative_to(ROOT)) if map_path.is_relative_to(ROOT) else str(map_path),
        "videos": report.videos,
        "clips": report.clips,
        "video_correct": round(report.video_top1 * report.videos),
        "video_accuracy": report.video_top1,
        "clip_accuracy": report.clip_top1,
        "mean_class_accuracy": report.mean_class_accuracy,
        "no_action": sum(o.predicted == NO_ACTION for o in report.outcomes) if has_no_action else None,
        "per_class": [
            {
                "class": row.label,
                "counts_as_right": list(mapping[row.label]),
                "videos": row.videos,
                "clips": row.clips,
                "video_correct": round((row.video_top1 or 0.0) * row.videos),
                "video_accuracy": row.video_top1,
                "clip_accuracy": row.clip_top1,
                "misses": dict(misses[row.label].most_common()),
            }
            for row in report.per_class
        ],
        "left_out": dict(report.left_out),
        "skipped": [{"video": v, "error": e} for v, e in report.skipped],
        "outcomes": [
            {"video": Path(o.video).name, "label": o.label, "predicted": o.predicted, "score": round(o.score, 4)}
            for o in report.outcomes
        ],
        "protocol": report.protocol,
        "seconds": round(report.seconds, 1),
    }


def markdown(header: str, rows: list[dict]) -> str:
    """The header line, a table of the sets and a table of their classes with where the misses went."""
    no_action = any(r["no_action"] is not None for r in rows)
    lines = [header, "", "| set | videos | video accuracy | clip accuracy | mean class accuracy |"]
    lines[-1] += " no_action answers |" if no_action else ""
    lines.append("|---|---:|---:|---:|---:|" + ("---:|" if no_action else ""))
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['videos']} | {_pct(r['video_accuracy'])} ({r['video_correct']}/{r['videos']}) | "
            f"{_pct(r['clip_accuracy'])} ({r['clips']} clips) | {_pct(r['mean_class_accuracy'])} |"
            + (f" {r['no_action']} |" if no_action else "")
        )
    lines += ["", "| set | class | counts as right | videos right | misses went to |", "|---|---|---|---:|---|"]
    for r in rows:
        for c in r["per_class"]:
            went = ", ".join(f"{n} {label}" for label, n in c["misses"].items()) or "-"
            lines.append(
                f"| {r['set']} | {c['class']} | {' or '.join(c['counts_as_right'])} | "
                f"{c['video_correct']}/{c['videos']} ({_pct(c['video_accuracy'])}) | {went} |"
            )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{100 * value:.1f} %"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    present = [n for n in dict.fromkeys(args.sets) if (args.data / n).is_dir()]
    for n in dict.fromkeys(args.sets):
        if n not in present:
            print(f"skipped {n}: {args.data / n} not found", file=sys.stderr)
    if not present:
        print(f"no real data here ({args.data}): nothing to do", file=sys.stderr)
        return 0

    from _timing import header as machine

    from actionrec.errors import ActionrecError
    from actionrec.hub import resolve_model
    from actionrec.io.files import exclusive, write_text_atomic
    from actionrec.runtime.backends import BackendKind, Precision
    from actionrec.runtime.pipeline import load

    try:
        model = resolve_model(args.model)
        with load(
            model, backend=BackendKind(args.backend), precision=Precision(args.precision), threads=args.threads
        ) as rec:
            backend = getattr(rec.backend, "name", type(rec.backend).__name__)
            precision = getattr(getattr(rec.backend, "precision", None), "value", "fp32")
            where = machine()
            head = f"model {model} ({backend} {precision}, K={args.clips_per_video}); {where}"
            print(head, file=sys.stderr)
            rows = []
            for name in present:
                row = score_set(
                    rec, name, args.data / name, clips_per_video=args.clips_per_video, batch_size=args.batch_size
                )
                rows.append(row)
                print(f"# {name}: {row['video_correct']}/{row['videos']} videos, {row['seconds']} s", file=sys.stderr)
        print(markdown(head, rows))
        if args.json is not None:
            with exclusive(args.json, "the JSON results"):
                results = {"model": str(model), "backend": backend, "precision": precision, "machine": where}
                results |= {"clips_per_video": args.clips_per_video, "sets": rows}
                write_text_atomic(args.json, json.dumps(results, indent=2) + "\n")
            print(f"wrote {args.json}", file=sys.stderr)
    except ActionrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
