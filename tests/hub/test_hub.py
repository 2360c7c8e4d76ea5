"""`actionrec pull` / `actionrec models` / named models (hub.py): weights served by a loopback HTTP server are
checked, converted and installed; the installed model predicts through the CLI and computes what torchvision's
r3d_18 computes; bad hashes, refused connections, cut transfers and pickled code leave nothing behind; the offline
--from/--labels way works; torchvision's fixed 128x171 resize is what preprocess does.

The torchvision network is rebuilt here from its published layout (torchvision/models/video/resnet.py: VideoResNet
with BasicStem, BasicBlock and Conv3DSimple), independently of actionrec's networks and name mapping, so that equal
logits prove the conversion right. The label list is the real one from shared/data when present (read there,
never copied into the repository), else 400 made-up names."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SHARED, moving_square_frames, write_cv2_video
from torch import nn
from torchvision_r3d18 import TvR3d18
from typer.testing import CliRunner

from actionrec import hub
from actionrec.cli import app
from actionrec.errors import ActionrecError
from actionrec.hub.foreign import read_state
from actionrec.io.checkpoint import load_model, read_meta
from actionrec.model_meta import ModelMeta, Preprocessing
from actionrec.runtime.pipeline import default_model_path
from actionrec.transforms import frame_resizer, preprocess, resize_frame

runner = CliRunner()
KINETICS_LABELS = SHARED / "labels" / "kinetics400.txt"


def reference(width: int, seed: int) -> TvR3d18:
    """A TvR3d18 with random weights and non-trivial BatchNorm statistics and affine terms, in eval mode."""
    torch.manual_seed(seed)
    net = TvR3d18(400, width)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
            elif name.endswith("weight") and t.dim() == 1:  # BatchNorm scale
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return net.eval()


def pth_bytes(net: nn.Module, *, legacy: bool = False) -> bytes:
    """The network's state dict as torch.save writes it (zip format, or the pre-1.6 format torchvision's 2019
    r3d_18 file is in)."""
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- the label list, a loopback server, a test registry entry ----


@pytest.fixture(scope="module")
def labels_text() -> str:
    """Kinetics-400's label list from shared/data when present (read in place), else 400 made-up sorted names."""
    if KINETICS_LABELS.is_file():
        return KINETICS_LABELS.read_text(encoding="utf-8")
    return "".join(f"made-up action {i:03d}\n" for i in range(400))


def normalised_sha(text: str) -> str:
    return sha256(("\n".join(n.strip() for n in text.splitlines() if n.strip()) + "\n").encode())


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.routes`: path -> (body, claimed Content-Length or None for the true one). HTTP/1.0, so the
    connection closes after each response: a claimed length beyond the body is a transfer cut short."""

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        body, claimed = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) if claimed is None else claimed))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    """A loopback HTTP server (127.0.0.1, a free port) in a thread; tests put files into `server.routes`."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes = {}  # type: ignore[attr-defined]
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """An empty model store ($ACTIONREC_HOME/models) and no proxy between the client and the loopback server."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ACTIONREC_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "models"


def register(monkeypatch, server, name: str, weights: bytes, labels: str, *, width: int, prefix: str | None = None):
    """Serve `weights` and `labels` and add a registry entry for them: kinetics400-r3d18's, with these URLs, the
    weights' own SHA-256 prefix (unless `prefix` is given) and the labels' hash, at `width`."""
    digest = prefix or sha256(weights)[:8]
    monkeypatch.setitem(server.routes, f"/models/{name}-{digest}.pth", (weights, None))
    monkeypatch.setitem(server.routes, f"/labels/{name}/label_map.txt", (labels.encode(), None))
    entry = dataclasses.replace(
        hub.KINETICS400_R3D18,
        name=name,
        weights_url=f"{server.base}/models/{name}-{digest}.pth",
        weights_sha256_prefix=digest,
        labels_url=f"{server.base}/labels/{name}/label_map.txt",
        labels_sha256=normalised_sha(labels),
        arch_args={"width": width},
    )
    monkeypatch.setitem(hub.REGISTRY, name, entry)
    return entry


def refused_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir()) if store.exists() else []


@pytest.fixture(scope="module")
def narrow():
    """A width-8 reference network and its .pth bytes."""
    net = reference(8, seed=1)
    return net, pth_bytes(net)


@pytest.fixture(scope="module")
def clip_video(tmp_path_factory) -> Path:
    """A 24-frame 96x72 mp4 (smaller than 128x171: the fixed resize enlarges it)."""
    return write_cv2_video(tmp_path_factory.mktemp("hub") / "clip.mp4", moving_square_frames(24, 96, 72), 25.0)


# ---- installing, listing, predicting ----


def test_pull_installs_lists_and_predicts_through_the_cli(store, server, monkeypatch, narrow, labels_text, clip_video):
    """`actionrec pull NAME` puts NAME.safetensors in the store (and nothing else), reports 0 skipped tensors and
    only attention new; `actionrec models` lists it as installed with its path; `predict --model NAME` works and
    ranks the 400 labels; the file describes itself (r3d18, labels, torchvision's preprocessing, source, hash)."""
    _, weights = narrow
    entry = register(monkeypatch, server, "test-r3d18", weights, labels_text, width=8)
    res = runner.invoke(app, ["pull", "test-r3d18"])
    assert res.exit_code == 0, res.output
    path = store / "test-r3d18.safetensors"
    assert f"installed test-r3d18: {path}" in res.stdout
    assert "labels: 400" in res.stdout and "0 skipped" in res.stdout and "24 new" in res.stdout
    assert leftovers(store) == ["test-r3d18.safetensors"]

    meta = read_meta(path)
    assert meta.arch == "r3d18" and meta.arch_args == {"width": 8} and len(meta.labels) == 400
    assert list(meta.labels) == [n.strip() for n in labels_text.splitlines() if n.strip()]
    assert meta.preprocessing == entry.preprocessing and meta.preprocessing.resize_to == (128, 171)
    assert meta.training["sha256"] == sha256(weights) and meta.training["source"] == entry.weights_url
    assert meta.training["data"].startswith("Kinetics-400")

    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.stdout.splitlines() if line.startswith("test-r3d18 "))
    assert "installed" in row and str(path) in row
    real = next(line for line in listing.stdout.splitlines() if line.startswith("kinetics400-r3d18 "))
    assert "not installed" in real
    default = next(line for line in listing.stdout.splitlines() if line.startswith("default "))
    assert str(default_model_path()) in default and "shipped" in default

    res = runner.invoke(app, ["predict", str(clip_video), "--model", "test-r3d18", "--format", "json", "-k", "3"])
    assert res.exit_code == 0, res.output
    (result,) = json.loads(res.stdout)["videos"]
    assert result["label"] in meta.labels and len(result["top"]) == 3

    again = runner.invoke(app, ["pull", "test-r3d18"])
    assert again.exit_code == 0 and "already installed" in again.stderr and path.stat().st_size > 0


@pytest.mark.slow  # a full-width r3d_18 converted twice; test_foreign checks the same mapping at a small width
def test_converted_logits_equal_torchvision_at_full_width(store, server, monkeypatch, labels_text):
    """At r3d_18's real size (width 64, 400 classes) the installed model's logits equal the reference's to 1e-5:
    every tensor loads, the attention is the exact identity, fc1 stays random, fc2 and the spatial conv are zero."""
    net = reference(64, seed=2)
    weights = pth_bytes(net)
    register(monkeypatch, server, "full-r3d18", weights, labels_text, width=64)
    result = hub.pull("full-r3d18")
    report = result.report
    assert result.installed and report is not None and report.skipped == ()
    assert len(report.loaded) == 102 and len(report.new) == 24 and all(".attention." in n for n in report.new)
    assert len(report.rescaled) == 8
    model, meta = load_model(result.path)
    assert meta.arch_args == {"width": 64}
    block = model.layer3[1].attention
    assert block.channel.fc1.weight.abs().sum() > 0 and block.channel.fc2.weight.abs().sum() == 0
    assert block.spatial.gate.conv.weight.abs().sum() == 0
    x = torch.randn(2, 3, 8, 56, 56, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, got = net(x), model(x)
    assert want.abs().max() > 0.1  # logits of a size where 1e-5 means something
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_legacy_torch_save_format_loads(store, server, monkeypatch, narrow, labels_text):
    """torchvision's 2019 r3d_18 file predates the zip format: a state dict saved with
    _use_new_zipfile_serialization=False reads with weights_only=True, installs, and gives the same logits."""
    net, _ = narrow
    legacy = pth_bytes(net, legacy=True)
    assert not legacy.startswith(b"PK")  # not a zip archive
    register(monkeypatch, server, "legacy-r3d18", legacy, labels_text, width=8)
    result = hub.pull("legacy-r3d18")
    model, _ = load_model(result.path)
    x = torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x), rtol=1e-5, atol=1e-5)


# ---- failures leave nothing behind ----


def test_hash_mismatch_is_an_error_and_installs_nothing(store, server, monkeypatch, narrow, labels_text):
    """A weights file whose SHA-256 does not start with the registry's prefix: exit 1, one line naming the URL and
    the mismatch, nothing in the store (no model file, no temporary file)."""
    _, weights = narrow
    entry = register(monkeypatch, server, "bad-hash", weights, labels_text, width=8, prefix="00000000")
    assert not sha256(weights).startswith("00000000")
    res = runner.invoke(app, ["pull", "bad-hash"])
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and entry.weights_url in lines[0] and "does not start with 00000000" in lines[0]
    assert leftovers(store) == []


def test_connection_refused_names_the_url_and_the_offline_way(store, monkeypatch, labels_text, tmp_path):
    """No server at the address: exit 1 and one line naming the URL that failed and `--from FILE`, whether the
    label list (fetched first) or, with --labels given, the weights fail to connect; nothing left behind."""
    port = refused_port()
    entry = dataclasses.replace(
        hub.KINETICS400_R3D18,
        name="offline",
        weights_url=f"http://127.0.0.1:{port}/models/r3d_18-b3b3357e.pth",
        labels_url=f"http://127.0.0.1:{port}/label_map.txt",
        labels_sha256=normalised_sha(labels_text),
    )
    monkeypatch.setitem(hub.REGISTRY, "offline", entry)
    res = runner.invoke(app, ["pull", "offline"])
    assert res.exit_code == 1
    (line,) = res.stderr.strip().splitlines()
    assert entry.labels_url in line and "--from" in line and "--labels" in line and "refused" in line.lower()
    labels = tmp_path / "label_map.txt"
    labels.write_text(labels_text)
    res = runner.invoke(app, ["pull", "offline", "--labels", str(labels)])
    assert res.exit_code == 1
    (line,) = res.stderr.strip().splitlines()
    assert entry.weights_url in line and "--from r3d_18-b3b3357e.pth" in line
    assert leftovers(store) == []


def test_interrupted_transfer_is_an_error_and_installs_nothing(store, server, monkeypatch, narrow, labels_text):
    """The server claims more bytes than it sends and closes: an 'interrupted' error naming the URL, exit 1, and
    no partial file anywhere in the store."""
    _, weights = narrow
    entry = register(monkeypatch, server, "cut-short", weights, labels_text, width=8)
    path = entry.weights_url.removeprefix(server.base)
    monkeypatch.setitem(server.routes, path, (weights[: len(weights) // 2], len(weights)))
    res = runner.invoke(app, ["pull", "cut-short"])
    assert res.exit_code == 1
    (line,) = res.stderr.strip().splitlines()
    assert entry.weights_url in line and "interrupted" in line and f"of {len(weights)} bytes" in line
    assert leftovers(store) == []


def test_pickled_code_is_refused_and_never_runs(store, server, monkeypatch, labels_text, tmp_path):
    """A .pth whose pickle calls a function when loaded (here os.makedirs of a marker folder), served with its
    correct hash: one-line error, exit 1, the marker never appears, nothing installed."""
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return os.makedirs, (str(marker),)

    buf = io.BytesIO()
    torch.save({"state_dict": {"stem.0.weight": torch.zeros(1)}, "extra": Payload()}, buf)
    entry = register(monkeypatch, server, "evil", buf.getvalue(), labels_text, width=8)
    res = runner.invoke(app, ["pull", "evil"])
    assert res.exit_code == 1
    (line,) = res.stderr.strip().splitlines()
    assert entry.weights_url in line and "never run" in line
    assert not marker.exists() and leftovers(store) == []


def test_wrong_label_lists_are_refused(store, server, monkeypatch, narrow, labels_text, tmp_path):
    """Label lists with a name missing, a name repeated, or two names swapped are refused before any weights are
    fetched; CRLF line ends, surrounding spaces and blank lines are accepted."""
    _, weights = narrow
    entry = register(monkeypatch, server, "labels", weights, labels_text, width=8)
    names = [n.strip() for n in labels_text.splitlines() if n.strip()]
    swapped = names.copy()
    swapped[0], swapped[1] = swapped[1], swapped[0]
    for bad, why in ((names[:-1], "399 labels"), ([*names[:-1], names[0]], "repeated"), (swapped, "not the expected")):
        with pytest.raises(hub.LabelsError, match=why):
            hub.read_labels("\n".join(bad), "list", entry)
    messy = "\r\n".join(f"  {n} " for n in names) + "\r\n\r\n"
    assert hub.read_labels(messy, "list", entry) == tuple(names)
    file = tmp_path / "bad.txt"
    file.write_text("\n".join(swapped))
    res = runner.invoke(app, ["pull", "labels", "--labels", str(file)])
    assert res.exit_code == 1 and str(file) in res.stderr and leftovers(store) == []


# ---- offline ----


def test_offline_install_from_files_checks_the_hash(store, monkeypatch, narrow, labels_text, tmp_path):
    """--from WEIGHTS --labels LABELS installs without any network (the registry's URLs point nowhere); a --from
    file with the wrong hash is refused and installs nothing; the legacy format works from a file too."""
    net, weights = narrow
    port = refused_port()
    entry = dataclasses.replace(
        hub.KINETICS400_R3D18,
        name="from-file",
        weights_url=f"http://127.0.0.1:{port}/r3d_18-{sha256(weights)[:8]}.pth",
        weights_sha256_prefix=sha256(weights)[:8],
        labels_url=f"http://127.0.0.1:{port}/label_map.txt",
        labels_sha256=normalised_sha(labels_text),
        arch_args={"width": 8},
    )
    monkeypatch.setitem(hub.REGISTRY, "from-file", entry)
    labels = tmp_path / "label_map.txt"
    labels.write_text(labels_text)
    wrong = tmp_path / "other.pth"
    wrong.write_bytes(pth_bytes(reference(8, seed=5)))
    res = runner.invoke(app, ["pull", "from-file", "--from", str(wrong), "--labels", str(labels)])
    assert res.exit_code == 1 and str(wrong) in res.stderr and "does not start with" in res.stderr
    assert leftovers(store) == []

    good = tmp_path / "r3d_18.pth"
    good.write_bytes(weights)
    res = runner.invoke(app, ["pull", "from-file", "--from", str(good), "--labels", str(labels)])
    assert res.exit_code == 0, res.output
    assert leftovers(store) == ["from-file.safetensors"]
    assert read_meta(store / "from-file.safetensors").training["sha256"] == sha256(weights)

    legacy = pth_bytes(net, legacy=True)
    monkeypatch.setitem(hub.REGISTRY, "from-file", dataclasses.replace(entry, weights_sha256_prefix=sha256(legacy)[:8]))
    good.write_bytes(legacy)
    res = runner.invoke(app, ["pull", "from-file", "--from", str(good), "--labels", str(labels), "--force"])
    assert res.exit_code == 0, res.output
    assert set(read_state(good)) == set(net.state_dict())


# ---- names, the store, the registry ----


def test_resolve_model(store, monkeypatch, tiny_model, tmp_path):
    """None and "default" give the shipped model, a file itself, an installed name its file in the store; a
    pullable name not installed says how to pull it; anything else names itself and the known names."""
    assert hub.resolve_model(None) == default_model_path() == hub.resolve_model("default")
    assert hub.resolve_model(tiny_model) == tiny_model and hub.resolve_model(str(tiny_model)) == tiny_model
    store.mkdir(parents=True)
    (store / "mine.safetensors").write_bytes(tiny_model.read_bytes())
    assert hub.resolve_model("mine") == store / "mine.safetensors" == hub.resolve_model(Path("mine"))
    with pytest.raises(ActionrecError) as e:
        hub.resolve_model("kinetics400-r3d18")
    assert str(e.value) == "kinetics400-r3d18: not installed; run `actionrec pull kinetics400-r3d18`"
    with pytest.raises(
        ActionrecError, match=r"nope\.safetensors: no such model file.*: default, kinetics400-r3d18, mine"
    ):
        hub.resolve_model(tmp_path / "nope.safetensors")
    monkeypatch.setenv("ACTIONREC_MODEL", str(tmp_path / "gone.safetensors"))
    with pytest.raises(ActionrecError) as e:
        hub.resolve_model(None)
    assert str(e.value) == (
        f"{tmp_path / 'gone.safetensors'}: the default model is not there (from $ACTIONREC_MODEL); "
        "pass a model file or name"
    )
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0 and any(line.startswith("mine ") for line in res.stdout.splitlines())
    assert "r3d10, 3 labels" in res.stdout and "missing" in res.stdout


def test_predict_with_a_name_not_installed_is_a_usage_error(store, clip_video):
    """`predict --model kinetics400-r3d18` before pulling: a usage error (exit 2) naming --model, that says to
    pull it."""
    res = runner.invoke(app, ["predict", str(clip_video), "--model", "kinetics400-r3d18"])
    assert res.exit_code == 2, res.output
    assert "Invalid value for --model: kinetics400-r3d18: not installed; run `actionrec pull kinetics400-r3d18`" in (
        " ".join(res.stderr.split())
    )


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["predict", "{video}", "--model", "nope"], "--model"),
        (["watch", "{video}", "--realtime", "--model", "nope"], "--model"),
        (["evaluate", "--data", "{video}", "--model", "nope"], "--model"),
        (["explain", "{video}", "--sheet", "{tmp}/s.png", "--model", "nope"], "--model"),
        (["info", "nope"], "MODEL"),
        (["train", "{tmp}", "-o", "{tmp}/run", "--init", "nope"], "--init"),
    ],
)
def test_an_unknown_model_is_a_usage_error_naming_the_option(store, clip_video, tmp_path, args, flag):
    """A model value that names no file and no installed model is a usage error (exit 2) naming the option it
    was given to and the names that are known, in every command that takes one."""
    argv = [a.format(video=clip_video, tmp=tmp_path) for a in args]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2, res.output
    text = " ".join(res.stderr.split())
    assert f"Invalid value for {flag}: nope: no such model file, nor a model name (known: default" in text


def test_store_location(monkeypatch, tmp_path):
    """$ACTIONREC_HOME/models when set, else ${XDG_CACHE_HOME:-~/.cache}/actionrec/models."""
    monkeypatch.setenv("ACTIONREC_HOME", str(tmp_path / "a"))
    assert hub.model_store() == tmp_path / "a" / "models"
    monkeypatch.delenv("ACTIONREC_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert hub.model_store() == tmp_path / "c" / "actionrec" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert hub.model_store() == tmp_path / "h" / ".cache" / "actionrec" / "models"


def test_registry_entry_is_torchvisions():
    """kinetics400-r3d18 points at torchvision's file, checks the 8 hex digits of its name, converts into a
    64-wide r3d18 with torchvision's preprocessing; its label hash is that of shared/data's list when present."""
    entry = hub.REGISTRY["kinetics400-r3d18"]
    assert entry.weights_url == "https://download.pytorch.org/models/r3d_18-b3b3357e.pth"
    assert entry.weights_url.endswith(f"-{entry.weights_sha256_prefix}.pth")
    assert entry.arch == "r3d18" and dict(entry.arch_args) == {"width": 64} and entry.num_labels == 400
    p = entry.preprocessing
    assert (p.clip_len, p.frame_step, p.resize_to, p.crop) == (16, 1, (128, 171), 112)
    assert p.mean == (0.43216, 0.394666, 0.37645) and p.std == (0.22803, 0.22145, 0.216989)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "x"  # type: ignore[misc]
    if KINETICS_LABELS.is_file():
        assert normalised_sha(KINETICS_LABELS.read_text(encoding="utf-8")) == entry.labels_sha256


# ---- torchvision's fixed-size resize ----


@pytest.mark.parametrize(("width", "height"), [(320, 240), (1280, 720)])
def test_fixed_resize_is_128x171_before_the_centre_crop(width, height):
    """With resize_to (128, 171) a 320x240 and a 1280x720 frame both become 171 wide and 128 high (aspect not
    kept), the decoder's per-frame resize gives exactly what preprocess does alone, and the crop is the 112 centre."""
    spec = hub.KINETICS400_R3D18.preprocessing
    frames = np.random.default_rng(0).integers(0, 256, (16, height, width, 3), dtype=np.uint8)
    assert resize_frame(frames[0], spec).shape == (128, 171, 3)
    resized = np.stack([frame_resizer(spec)(f) for f in frames])
    assert resized.shape == (16, 128, 171, 3)
    x = preprocess(frames, spec)
    assert x.shape == (1, 3, 16, 112, 112) and np.array_equal(x, preprocess(resized, spec))
    top, left = (128 - 112) // 2, (171 - 112) // 2
    mean, std = np.asarray(spec.mean), np.asarray(spec.std)
    want = ((resized[:, top : top + 112, left : left + 112] / 255 - mean) / std).transpose(3, 0, 1, 2)
    assert np.allclose(x[0], want, atol=1e-5)


def test_resize_to_round_trips_and_is_validated():
    """resize_to survives the model file's JSON as a tuple; a crop larger than either side is refused; files
    without it keep the short-side resize."""
    spec = Preprocessing(resize_to=(128, 171), crop=112)
    meta = ModelMeta(arch="r3d18", arch_args={"width": 64}, labels=("a", "b"), preprocessing=spec)
    back = ModelMeta.from_json(meta.to_json())
    assert back == meta and back.preprocessing.resize_to == (128, 171)
    assert ModelMeta.from_json(json.dumps({"arch": "r3d10", "labels": ["a"]})).preprocessing.resize_to is None
    for bad in ((100, 171), (128, 100), (128,)):
        with pytest.raises(ValueError):
            Preprocessing(resize_to=bad, crop=112)
    assert Preprocessing(resize=64, resize_to=(128, 171), crop=112).resize_to == (128, 171)  # resize then unused


def test_download_reports_progress_and_hashes_while_streaming(store, server, monkeypatch):
    """download() calls progress with (bytes done, total), ends at (size, size), yields the SHA-256 of what it
    wrote, and removes its temporary file when the block ends."""
    body = os.urandom(3 * hub.CHUNK + 17)
    monkeypatch.setitem(server.routes, "/blob.bin", (body, None))
    calls = []
    with hub.download(f"{server.base}/blob.bin", store, progress=lambda d, t: calls.append((d, t))) as got:
        assert got.sha256 == sha256(body) and got.size == len(body) and got.path.read_bytes() == body
        tmp = got.path
    assert not tmp.exists() and leftovers(store) == []
    assert calls[0] == (0, len(body)) and calls[-1] == (len(body), len(body))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    with pytest.raises(hub.DownloadError, match="HTTP 404"), hub.download(f"{server.base}/missing", store):
        pass
    with pytest.raises(hub.ChecksumError), hub.download(f"{server.base}/blob.bin", store, sha256_prefix="zz"):
        pass
    assert leftovers(store) == []
