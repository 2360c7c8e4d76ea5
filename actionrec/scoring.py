"""Accuracy of a model on labelled videos: clip and video top-1/top-5, mean class accuracy, per-class results and
the confusion matrix, with the report (JSON, CSV, PNG) written from them. Videos are scored by
`Recognizer.window_probs`, the very code that `predict` runs; the metric math is in `metrics`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ActionrecError, DataError, VideoError, require_extra
from .io.files import atomic_path, nearest_existing, write_text_atomic
from .metrics import accuracy_in, class_recalls, confusion_matrix, mean_class_accuracy, top1
from .metrics import accuracy_topk as accuracy_topk  # the metric math lives in `metrics`; still importable here
from .model_meta import with_current_keys

if TYPE_CHECKING:
    from rich.table import Table

    from .data import DataSplit, VideoItem
    from .model_meta import ModelMeta, Preprocessing
    from .runtime.pipeline import Recognizer

PLOT_MODULES = ("matplotlib",)  # pyproject's [plot] extra: the confusion matrix's PNG
OTHER = "(other)"  # confusion-matrix class for predictions of model classes the data set does not have

Progress = Callable[["VideoItem", "str | None"], None]  # called after each video with its error, or None


def match_labels(
    data_labels: Sequence[str], model_labels: Sequence[str], where: str = "data set", *, distinct: bool = True
) -> list[int]:
    """The model's class index of each data set class, matched by name: exactly, or else ignoring case, spaces,
    underscores and hyphens ("riding a bike" = "riding_a_bike"). A class the model does not know is a DataError, and
    so (with `distinct`) are two classes that match the same model class."""
    exact = {name: i for i, name in enumerate(model_labels)}
    loose: dict[str, list[int]] = {}
    for i, name in enumerate(model_labels):
        loose.setdefault(_loose(name), []).append(i)
    mapping, unknown = [], []
    for name in data_labels:
        if name in exact:
            mapping.append(exact[name])
        elif len(loose.get(_loose(name), [])) == 1:
            mapping.append(loose[_loose(name)][0])
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(unknown[:8]) + (", ..." if len(unknown) > 8 else "")
        known = ", ".join(list(model_labels)[:8]) + (", ..." if len(model_labels) > 8 else "")
        raise DataError(f"{where}: {len(unknown)} classes the model does not know: {shown} (the model has: {known})")
    if distinct and len(set(mapping)) != len(mapping):
        raise DataError(f"{where}: two data set classes map onto the same model class")
    return mapping


def _loose(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().casefold())


LabelMap = dict[str, tuple[str, ...]]  # data-set class -> the model classes that count as right for it


def read_label_map(path: str | os.PathLike[str], model_labels: Sequence[str]) -> LabelMap:
    """A --label-map file: JSON {"data class": "model class" or ["model class", ...]}, or CSV rows `data
    class,model class[,model class...]` (a class on several rows gets them all; a `data,model` header is skipped).
    Model classes are matched by name as `match_labels` does; a DataError names the file and what is wrong."""
    import csv
    import json

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the label map ({getattr(e, 'strerror', None) or e})") from None
    pairs: list[tuple[str, list[str]]] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise DataError(f"{path}: not JSON ({e})") from None
        if not isinstance(data, dict):
            raise DataError(f'{path}: expected an object {{"data class": ["model class", ...]}}')
        for key, value in data.items():
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise DataError(f"{path}: {key!r} must map to a model class or a non-empty list of them")
            pairs.append((key, names))
    else:
        for n, row in enumerate(csv.reader(text.splitlines()), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or (n == 1 and [c.lower() for c in cells[:2]] == ["data", "model"]):
                continue
            if len(cells) < 2:
                raise DataError(f"{path} row {n}: expected 'data class,model class[,model class...]'")
            pairs.append((cells[0], cells[1:]))
    if not pairs:
        raise DataError(f"{path}: the label map is empty")
    out: dict[str, list[str]] = {}
    for data_class, names in pairs:
        indices = match_labels([n.strip() for n in names], model_labels, where=f"{path} ({data_class})", distinct=False)
        mapped = out.setdefault(data_class.strip(), [])
        mapped += [model_labels[i] for i in indices if model_labels[i] not in mapped]
    return {k: tuple(v) for k, v in out.items()}


def protocol_text(clips_per_video: int, spec: Preprocessing) -> str:
    step = f" (every {spec.frame_step}th frame)" if spec.frame_step > 1 else ""
    size = f"resized to {spec.resize_to[0]}x{spec.resize_to[1]}" if spec.resize_to else f"short side {spec.resize}"
    return (
        f"video = mean softmax of K={clips_per_video} uniformly spaced {spec.clip_len}-frame windows{step}, "
        f"{size}, centre crop {spec.crop}; clip = each window scored alone"
    )


def group_accuracy(items: Sequence[VideoItem], correct: np.ndarray) -> tuple[GroupResult, ...]:
    """Video top-1 of each group (person), groups in natural order (s2 before s10)."""
    hits: dict[str, list[bool]] = {}
    for item, ok in zip(items, correct, strict=True):
        hits.setdefault(item.group, []).append(bool(ok))
    order = sorted(hits, key=lambda g: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", g)])
    return tuple(GroupResult(g, len(hits[g]), float(np.mean(hits[g]))) for g in order)


# ---- which split: the model's own held-out side by default ----


@dataclass(frozen=True)
class SplitChoice:
    """How `evaluate` splits a folder or CSV data set, and why, in words (`note`)."""

    layout: str
    split: int
    val_fraction: float
    group_regex: str | None
    seed: int
    csv: Path | None
    note: str  # which split is scored when it is the model's own held-out side, else ""
    own_data: bool = False  # the data the model was trained on (its file's `training` metadata says so)


SPLIT_DEFAULTS: dict[str, Any] = {"layout": "auto", "split": 1, "val_fraction": 0.2, "group_regex": None, "seed": 0}


def choose_split(data: Path, meta: ModelMeta, **given: Any) -> SplitChoice:
    """The split to score: options given (not None) win; on the data a model was trained on, the rest come from
    its run (grouping, fraction and seed are in the model file), so that its held-out side is exactly the one
    training held out; elsewhere the defaults, with a warning when that splits by file."""
    training = meta.training or {}
    recipe = with_current_keys(training.get("recipe") or {})  # a model trained before `layout` was named so too
    trained_on = training.get("data_path")
    same = bool(recipe) and trained_on is not None and _same_path(data, trained_on)
    if same and recipe.get("csv") and given.get("csv") is None:
        given["csv"] = Path(recipe["csv"])
    values: dict[str, Any] = {}
    for key, default in SPLIT_DEFAULTS.items():
        if given.get(key) is not None:
            values[key] = given[key]
        elif same:
            values[key] = recipe.get(key, default)
        else:
            values[key] = default
    note = ""
    if same:
        how = f"group regex '{values['group_regex']}'" if values["group_regex"] else "as in training"
        note = (
            f"scoring the held-out side of this model's own training split ({how}, "
            f"{round(100 * values['val_fraction'])} %, seed {values['seed']})"
        )
    return SplitChoice(
        layout=str(values["layout"]),
        split=int(values["split"]),
        val_fraction=float(values["val_fraction"]),
        group_regex=values["group_regex"],
        seed=int(values["seed"]),
        csv=given.get("csv"),
        note=note,
        own_data=same,
    )


OFFICIAL_SPLITS = ("ucf101", "hmdb51")  # layouts whose split files name a test list


def default_subset(data: Path, choice: SplitChoice, *, split_asked: bool = False) -> str:
    """Which videos `evaluate` scores when --subset is not given: the held-out side ("val") on the model's own
    training data, on a layout with official test lists (UCF-101, HMDB-51), or when a split was asked for
    (`split_asked`: --val-fraction given); every video ("all") of any other folder or CSV set, a separate test set
    that a random split would only shrink."""
    from .data.layouts import detect_layout

    if choice.own_data or split_asked:
        return "val"
    layout = choice.layout
    if layout == "auto":
        is_csv = choice.csv is not None or data.suffix.lower() == ".csv"
        layout = "csv" if is_csv else detect_layout(data).value
    return "val" if layout in OFFICIAL_SPLITS else "all"


def whole_summary(data: Path, dataset: DataSplit) -> str:
    """One line for a data set scored whole (--subset all): its real counts, no split."""
    videos = len(dataset.train) + len(dataset.val)
    text = f"{data}: {len(dataset.labels)} classes, {videos} videos, every one scored"
    if dataset.skipped:
        names = ", ".join(dataset.skipped[:5]) + (", ..." if len(dataset.skipped) > 5 else "")
        text += f"; skipped {len(dataset.skipped)} missing or unreadable: {names}"
    return text


def _same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


# ---- the evaluation ----


@dataclass(frozen=True)
class ClassResult:
    label: str
    videos: int  # videos of this class evaluated
    clips: int  # windows scored over those videos
    clip_top1: float | None  # None when the class has no videos here
    video_top1: float | None  # the class's recall; mean_class_accuracy is the mean of these


@dataclass(frozen=True)
class VideoOutcome:
    video: str
    label: str  # the true class
    predicted: str  # top-1 of the mean of its window probabilities (a model class name)
    score: float  # that class's mean probability
    clips: int  # windows scored (fewer than K when the video is shorter than K distinct windows)
    group: str = ""  # the video's group (person) in the split


@dataclass(frozen=True)
class GroupResult:
    group: str  # a person (or source) as the split's group regex or CSV column names it
    videos: int
    video_top1: float


@dataclass(frozen=True)
class EvalReport:
    """Everything `actionrec evaluate` reports; `to_dict` is the JSON report's layout."""

    protocol: str  # how clips and videos were scored, in words
    clips_per_video: int  # K
    top_k: int  # the k of the "top5" numbers: 5, or the class count when the model has fewer
    videos: int  # videos evaluated (unreadable ones excluded)
    clips: int  # windows scored
    clip_top1: float
    clip_top5: float
    video_top1: float
    video_top5: float
    mean_class_accuracy: float  # mean over the data set's classes of video top-1 recall
    per_class: tuple[ClassResult, ...]
    confusion_labels: tuple[str, ...]  # the data set's classes, plus OTHER when the model has more
    confusion: tuple[tuple[int, ...], ...]  # rows true class, columns predicted, video level
    outcomes: tuple[VideoOutcome, ...]
    skipped: tuple[tuple[str, str], ...]  # (video, error) of unreadable videos, not counted anywhere else
    backend: str  # which back end ran the model (torch, onnxruntime)
    seconds: float  # wall time of the evaluation
    per_group: tuple[GroupResult, ...] = ()  # video top-1 per person, when the split has real groups
    left_out: tuple[tuple[str, int], ...] = ()  # (data-set class, videos) the label map does not map: not scored

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy", "seconds"):
            d[key] = _round(d[key])
        for row in d["per_class"]:
            row["clip_top1"], row["video_top1"] = _round(row["clip_top1"]), _round(row["video_top1"])
        for row in d["outcomes"]:
            row["score"] = _round(row["score"])
        for row in d["per_group"]:
            row["video_top1"] = _round(row["video_top1"])
        d["confusion"] = [list(r) for r in self.confusion]
        d["skipped"] = [{"video": v, "error": e} for v, e in self.skipped]
        d["left_out"] = dict(self.left_out)
        return d


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def evaluate(
    recognizer: Recognizer,
    items: Sequence[VideoItem],
    labels: Sequence[str],
    *,
    clips_per_video: int = 10,
    batch_size: int = 8,
    progress: Progress | None = None,
    by_group: bool = False,
    label_map: Mapping[str, Sequence[str]] | None = None,
) -> EvalReport:
    """Score each video's K uniformly spaced windows and measure clip and video accuracy.

    items: the videos with their true class as an index into `labels` (the data set's class names), which are
    matched to the model's classes by name, or with `label_map` (`read_label_map`) each to the model classes that
    count as right for it; the videos of data-set classes the map leaves out are not scored, and counted in
    `left_out`. A video that cannot be decoded is skipped and listed in `skipped`;
    `progress(item, error_or_None)` is called after each video. With `by_group`, video accuracy is also reported
    per group (the items' `group`: a person, when the split was made by a group regex or a CSV group column).

    >>> from actionrec.data import open_dataset
    >>> from actionrec.runtime.pipeline import load
    >>> split = open_dataset(Path("data/weizmann4"), group_regex=r"_(s\\d)")
    >>> report = evaluate(load("model.safetensors"), split.val, split.labels, clips_per_video=10)
    >>> report.video_top1, report.mean_class_accuracy  # doctest: +SKIP
    (0.875, 0.875)
    """
    if clips_per_video < 1:
        raise ValueError("clips_per_video must be at least 1")
    meta = recognizer.meta
    model_labels = tuple(meta.labels)
    left_out: dict[str, int] = {}
    if label_map is not None:
        items, labels, left_out = _apply_label_map(items, labels, label_map)
    right = _right_classes(labels, model_labels, label_map)  # (data class, model class): counts as right
    n_data = len(labels)
    extra = not right.any(axis=0).all()  # model classes right for no data class: predictions of OTHER

    started = time.perf_counter()
    clip_probs: list[np.ndarray] = []
    clip_targets: list[np.ndarray] = []  # data class of each clip
    video_probs: list[np.ndarray] = []
    video_targets: list[int] = []
    kept: list[VideoItem] = []
    skipped: list[tuple[str, str]] = []
    for item in items:
        try:
            probs, _ = recognizer.window_probs(item.path, num_windows=clips_per_video, batch_size=batch_size)
        except VideoError as e:
            skipped.append((str(item.path), str(e)))
            if progress is not None:
                progress(item, str(e))
            continue
        clip_probs.append(probs)  # (W, C_model), W <= K
        clip_targets.append(np.full(len(probs), item.label, dtype=np.int64))
        video_probs.append(probs.mean(axis=0))  # (C_model,)
        video_targets.append(item.label)
        kept.append(item)
        if progress is not None:
            progress(item, None)
    if not kept:
        raise DataError(f"no readable videos to evaluate ({len(skipped)} unreadable of {len(items)})")

    clips = np.concatenate(clip_probs)  # (N_clips, C_model)
    clip_true = np.concatenate(clip_targets)  # data classes
    videos = np.stack(video_probs)  # (N_videos, C_model)
    video_true = np.asarray(video_targets, dtype=np.int64)
    k = min(5, len(model_labels))
    video_pred = top1(videos)  # model classes
    n_conf = n_data + int(extra)
    matrix = confusion_matrix(_confusion_columns(right, video_pred, video_true), video_true, n_conf)
    recalls = class_recalls(matrix)
    per_class = []
    for c, name in enumerate(labels):
        mask = clip_true == c
        per_class.append(
            ClassResult(
                label=name,
                videos=int(np.sum(video_true == c)),
                clips=int(mask.sum()),
                clip_top1=accuracy_in(clips[mask], right[clip_true[mask]], 1) if mask.any() else None,
                video_top1=None if np.isnan(recalls[c]) else float(recalls[c]),
            )
        )
    spec = meta.preprocessing
    return EvalReport(
        protocol=protocol_text(clips_per_video, spec),
        clips_per_video=clips_per_video,
        top_k=k,
        videos=len(kept),
        clips=len(clips),
        clip_top1=accuracy_in(clips, right[clip_true], 1),
        clip_top5=accuracy_in(clips, right[clip_true], k),
        video_top1=accuracy_in(videos, right[video_true], 1),
        video_top5=accuracy_in(videos, right[video_true], k),
        mean_class_accuracy=mean_class_accuracy(matrix),
        per_class=tuple(per_class),
        confusion_labels=(*labels, *((OTHER,) if extra else ())),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        outcomes=tuple(
            VideoOutcome(str(it.path), labels[it.label], model_labels[p], float(v[p]), len(cp), it.group)
            for it, p, v, cp in zip(kept, video_pred, videos, clip_probs, strict=True)
        ),
        per_group=group_accuracy(kept, right[video_true, video_pred]) if by_group else (),
        left_out=tuple(left_out.items()),
        skipped=tuple(skipped),
        backend=getattr(recognizer.backend, "name", type(recognizer.backend).__name__),
        seconds=time.perf_counter() - started,
    )


def _apply_label_map(
    items: Sequence[VideoItem], labels: Sequence[str], label_map: Mapping[str, Sequence[str]]
) -> tuple[list[VideoItem], tuple[str, ...], dict[str, int]]:
    """The items of the data-set classes the map maps, relabelled as indices into those classes (in data-set
    order), and the videos left out per unmapped class."""
    mapped = tuple(name for name in labels if name in label_map)
    if not mapped:
        shown = ", ".join(list(labels)[:8]) + (", ..." if len(labels) > 8 else "")
        raise DataError(f"the label map maps none of the data set's classes ({shown})")
    index = {labels.index(name): i for i, name in enumerate(mapped)}
    kept, left_out = [], {}
    for item in items:
        if item.label in index:
            kept.append(dataclasses.replace(item, label=index[item.label]))
        else:
            left_out[labels[item.label]] = left_out.get(labels[item.label], 0) + 1
    return kept, mapped, left_out


def _right_classes(
    labels: Sequence[str], model_labels: Sequence[str], label_map: Mapping[str, Sequence[str]] | None
) -> np.ndarray:
    """(data classes, model classes) bool: which model classes count as right for each data-set class; without a
    map, the one of the same name (`match_labels`)."""
    right = np.zeros((len(labels), len(model_labels)), dtype=bool)
    if label_map is None:
        right[np.arange(len(labels)), match_labels(labels, model_labels)] = True
    else:
        for c, name in enumerate(labels):
            right[c, match_labels(list(label_map[name]), model_labels, "label map", distinct=False)] = True
    return right


def _confusion_columns(right: np.ndarray, preds: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The confusion column of each prediction (a model class): its true class when it counts as right there, else
    the first data-set class it counts for, else OTHER (the column after the data-set classes)."""
    n_data = len(right)
    cols = np.where(right.any(axis=0), right.argmax(axis=0), n_data)[preds]
    return np.where(right[targets, preds], targets, cols)


# ---- what gets shown and written ----


def summary_lines(report: EvalReport) -> list[str]:
    """The headline numbers, one per line, protocol first."""
    k = report.top_k
    lines = [
        f"protocol: {report.protocol}",
        f"videos: {report.videos} ({report.clips} clips)"
        + (f", {len(report.skipped)} unreadable skipped" if report.skipped else ""),
        f"clip accuracy:  top-1 {_pct(report.clip_top1)}  top-{k} {_pct(report.clip_top5)}",
        f"video accuracy: top-1 {_pct(report.video_top1)}  top-{k} {_pct(report.video_top5)}",
        f"mean class accuracy (video top-1): {_pct(report.mean_class_accuracy)}",
    ]
    if report.left_out:
        classes = ", ".join(f"{name} ({n})" for name, n in report.left_out)
        lines.append(f"left out, not in the label map: {sum(n for _, n in report.left_out)} videos of {classes}")
    return lines


def per_group_table(report: EvalReport) -> Table:
    """A rich table: per group (person), its videos and video top-1."""
    from rich.table import Table

    table = Table(title="per group (person)", title_justify="left")
    table.add_column("group")
    table.add_column("videos", justify="right")
    table.add_column("video top-1", justify="right")
    for row in report.per_group:
        table.add_row(row.group, str(row.videos), _pct(row.video_top1))
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.2f}%"


def per_class_table(report: EvalReport) -> Table:
    """A rich table: per class, its videos and clips, clip and video top-1, and what it is most confused with."""
    from rich.table import Table

    table = Table(title="per class", title_justify="left")
    for col, justify in (("class", "left"), ("videos", "right"), ("clips", "right")):
        table.add_column(col, justify=justify)
    table.add_column("clip top-1", justify="right")
    table.add_column("video top-1", justify="right")
    table.add_column("most confused with")
    matrix = np.asarray(report.confusion)
    for c, row in enumerate(report.per_class):
        wrong = matrix[c].copy()
        wrong[c] = 0
        confused = f"{report.confusion_labels[int(wrong.argmax())]} ({int(wrong.max())})" if wrong.max() > 0 else ""
        table.add_row(row.label, str(row.videos), str(row.clips), _pct(row.clip_top1), _pct(row.video_top1), confused)
    return table


def write_report(path: str | os.PathLike[str], report: EvalReport, context: dict[str, Any] | None = None) -> Path:
    """The JSON report, atomically: `context` (model, data, split...) first, then `report.to_dict()`."""
    import json

    path = Path(path)
    write_text_atomic(path, json.dumps({**(context or {}), **report.to_dict()}, indent=2) + "\n")
    return path


def write_confusion_csv(path: str | os.PathLike[str], report: EvalReport) -> Path:
    """The video-level confusion matrix as CSV: a header of predicted classes, one row per true class."""
    import csv

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *report.confusion_labels])
        for name, row in zip(report.confusion_labels, report.confusion, strict=True):
            writer.writerow([name, *row])
    return path


def plot_confusion(path: str | os.PathLike[str], report: EvalReport) -> Path:
    """The confusion matrix as a PNG: cells shaded by the share of the true class, annotated with counts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(report.confusion, dtype=np.float64)
    names = report.confusion_labels
    n = len(names)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = min(max(4.0, 0.45 * n + 2.5), 40.0)
    fig = Figure(figsize=(side, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(n), names, rotation=90 if n > 6 else 45, ha="center" if n > 6 else "right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"video top-1 {_pct(report.video_top1)}, mean class {_pct(report.mean_class_accuracy)}")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if shares[i, j] > 0.5 else "black"
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=color, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def output_paths(output: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """Where `write_outputs` writes: the JSON report, `<stem>.confusion.csv` and `<stem>.confusion.png`."""
    output = Path(output)
    stem = output.with_suffix("") if output.suffix.lower() == ".json" else output
    return output, stem.with_name(stem.name + ".confusion.csv"), stem.with_name(stem.name + ".confusion.png")


def check_outputs(output: str | os.PathLike[str]) -> None:
    """Raise, before any video is scored, what would keep `write_outputs` from writing: the PNG needs the [plot]
    extra, and the report's folder must be one that can be made and written (not below a file, not read-only)."""
    report_path = Path(output)
    require_extra(f"{output_paths(output)[2]}: the confusion matrix's plot", "plot", PLOT_MODULES)
    if report_path.is_dir():
        raise ActionrecError(f"{report_path}: is a folder; give the JSON report's file name")
    folder = nearest_existing(report_path)
    if folder is not None and not folder.is_dir():
        raise ActionrecError(f"{report_path}: cannot write the report: {folder} is a file, not a folder")
    if folder is not None and not os.access(folder, os.W_OK | os.X_OK):
        raise ActionrecError(f"{report_path}: cannot write the report: {folder} is not writable")


def write_outputs(output: str | os.PathLike[str], report: EvalReport, context: dict[str, Any]) -> list[Path]:
    """The JSON report at `output`, and beside it `<stem>.confusion.csv` and `<stem>.confusion.png`: all three or
    none. Each is written under a temporary name and the three are renamed at the end; what cannot be written (no
    matplotlib, a folder below a file, a full disk) is one ActionrecError naming the file and the reason."""
    paths = output_paths(output)
    check_outputs(output)
    writers = (
        lambda path: write_report(path, report, context),
        lambda path: write_confusion_csv(path, report),
        lambda path: plot_confusion(path, report),
    )
    current = paths[0]
    try:
        with contextlib.ExitStack() as renames:  # on leaving: renamed onto their names, or all removed
            for path, write in zip(paths, writers, strict=True):
                current = path
                write(renames.enter_context(atomic_path(path)))
            current = paths[0]
    except OSError as e:
        written = ", ".join(p.name for p in paths)
        raise ActionrecError(f"{current}: cannot write it ({e.strerror or e}); none of {written} written") from None
    return list(paths)
