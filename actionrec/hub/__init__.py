"""Named models: the registry of pretrained weights `actionrec pull` fetches, checks and converts into model files,
the local store they are installed in, and `resolve_model`, which turns a --model value (a file, a name, nothing)
into a model file. Torch is imported only to convert, so resolving a name stays torch-free."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cpu import cache_root
from ..errors import ActionrecError, ModelFileError, OptionError
from ..model_meta import KINETICS_FPS, KINETICS_MEAN, KINETICS_STD, Preprocessing

if TYPE_CHECKING:
    from torch import nn

    from ..model_meta import ModelMeta
    from .foreign import InitReport

Progress = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None when the server does not say)

CHUNK = 1 << 20  # bytes read per step while streaming a download
TIMEOUT_S = 60.0  # connect and per-read timeout
USER_AGENT = "actionrec (model download; Python urllib)"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # what may name an installed model (it becomes <name>.safetensors)


class HubError(ActionrecError):
    """Pulling a model failed: a download, a check or the conversion."""


class DownloadError(HubError):
    """The transfer failed: no connection, an HTTP error, or a transfer cut short."""


class ChecksumError(HubError):
    """A file whose SHA-256 is not the expected one: corrupted or altered; never read."""


class LabelsError(HubError):
    """A label list that is not the expected one (count, duplicates, or different names/order)."""


class UnknownModelError(ModelFileError, OptionError):
    """A model value (--model, --init) that names no model file and no installed model: the caller's mistake, which
    the command line reports as a usage error naming the option."""

    def __init__(self, message: str, option: str = "model"):
        OptionError.__init__(self, option, message)


class NotInstalledError(UnknownModelError):
    """A known model name that has not been pulled yet."""


@dataclass(frozen=True)
class HubEntry:
    """A model `actionrec pull NAME` can install: where its weights and labels come from, how to check them, and
    what the converted model file says about itself."""

    name: str
    description: str  # one line for `actionrec models`
    weights_url: str
    weights_sha256_prefix: str  # hex digits the weights file's SHA-256 must start with
    labels_url: str
    labels_sha256: str  # SHA-256 of the normalised label text: "\n".join(names) + "\n"
    num_labels: int
    preprocessing: Preprocessing
    arch: str  # a key of networks.BUILDERS
    arch_args: Mapping[str, Any]  # its arguments, num_classes excluded (read only; copied into the model file)
    source: str  # where the weights come from and under which terms
    training: Mapping[str, Any] = field(default_factory=dict)  # merged into the model file's `training`

    @property
    def weights_file_name(self) -> str:
        return self.weights_url.rsplit("/", 1)[-1]

    @property
    def labels_file_name(self) -> str:
        return self.labels_url.rsplit("/", 1)[-1]

    def offline_hint(self) -> str:
        return (
            f"offline? download {self.weights_url} and {self.labels_url} elsewhere, then run "
            f"`actionrec pull {self.name} --from {self.weights_file_name} --labels {self.labels_file_name}`"
        )


KINETICS400_R3D18 = HubEntry(
    name="kinetics400-r3d18",
    description="Kinetics-400 (400 actions): torchvision's r3d_18 weights in the 3D residual attention network",
    weights_url="https://download.pytorch.org/models/r3d_18-b3b3357e.pth",
    weights_sha256_prefix="b3b3357e",  # the hex in torchvision's file name: how torchvision checks the file
    labels_url="https://raw.githubusercontent.com/google-deepmind/kinetics-i3d/master/data/label_map.txt",
    labels_sha256="e9f2806fe9109b851a80a74841244f6f8c9d10917fa0229cd82bab67f2f8e28f",
    num_labels=400,
    preprocessing=Preprocessing(
        clip_len=16,
        frame_step=1,
        resize=128,
        resize_to=(128, 171),  # torchvision's video transform: a fixed 128x171 resize, then the 112 centre crop
        crop=112,
        mean=KINETICS_MEAN,
        std=KINETICS_STD,
        fps=KINETICS_FPS,  # 16 frames at 15 fps (1.07 s), as torchvision trained and measured these weights
    ),
    arch="r3d18",
    arch_args={"width": 64},
    source="weights: torchvision's r3d_18 (torchvision's code is BSD-3-Clause; the weights were trained on "
    "Kinetics-400, YouTube videos under their owners' terms: check torchvision's terms before redistributing); "
    "labels: google-deepmind/kinetics-i3d data/label_map.txt",
    training={
        "data": "Kinetics-400 (torchvision r3d_18 weights, converted; attention as the exact identity)",
        "accuracy": {
            "kinetics400_val_top1_video": 63.2,  # torchvision's figure: 5 clips of 16 frames per video at 15 fps
            "kinetics400_val_top5_video": 83.479,
            "kinetics400_val_top1_clip": 52.75,  # torchvision's 2019 release figure, one clip
            "kinetics400_val_top5_clip": 75.45,
            "as_reported_by": "torchvision (R3D_18_Weights.KINETICS400_V1; clip figures from its 2019 release)",
        },
    },
)

REGISTRY: dict[str, HubEntry] = {e.name: e for e in (KINETICS400_R3D18,)}  # every pullable model, by name


# ---- the store ----


def model_store() -> Path:
    """Where pulled models live: $ACTIONREC_HOME/models, else ${XDG_CACHE_HOME:-~/.cache}/actionrec/models."""
    home = os.environ.get("ACTIONREC_HOME")
    if home:
        return Path(home).expanduser() / "models"
    return cache_root().expanduser() / "models"


def installed_path(name: str) -> Path:
    """The file an installed model of this name is (or would be)."""
    if not _NAME.fullmatch(name):
        raise ActionrecError(f"{name!r}: not a model name (letters, digits, '.', '_', '-')")
    return model_store() / f"{name}.safetensors"


def installed_names() -> list[str]:
    """Names of the models in the store, sorted."""
    store = model_store()
    if not store.is_dir():
        return []
    return sorted(p.stem for p in store.glob("*.safetensors") if p.is_file() and _NAME.fullmatch(p.stem))


DEFAULT_MODEL_NAME = "actionrec-default.safetensors"


def default_model_path() -> Path:
    """The shipped default model, or $ACTIONREC_MODEL when set: the package data of `actionrec.models` (the
    checkout's models/, mapped in pyproject.toml; in a wheel, actionrec/models/), found through importlib.resources;
    in a checkout that is not installed, models/ beside the package."""
    env = os.environ.get("ACTIONREC_MODEL")
    return Path(env) if env else shipped_model_path()


def shipped_model_path() -> Path:
    try:
        found = resources.files("actionrec.models") / DEFAULT_MODEL_NAME
    except ModuleNotFoundError:  # a bare checkout on sys.path: no install, so no package mapping
        return Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME
    return Path(str(found))


def resolve_model(ref: str | os.PathLike[str] | None = None, *, option: str = "model") -> Path:
    """The model file a --model value means: None or "default" -> the shipped default, an existing file -> itself,
    an installed name -> its file in the store. A pullable name not yet installed, or a value that names nothing
    (UnknownModelError: a usage error), and anything there that is not a regular file (a folder, a FIFO: it would
    block the reader) raise an ActionrecError that says what to do; `option` is the flag the value came from."""
    from ..io.checkpoint import check_model_file

    if ref is None:
        return _default(default_model_path())
    path = Path(ref)
    kind = _kind(path, option)
    if kind == "file":
        return path
    text = os.fspath(ref)
    if text == "default" and kind is None:
        return _default(default_model_path())
    if kind is None and _NAME.fullmatch(text):
        installed = installed_path(text)
        if _kind(installed, option) is not None:
            check_model_file(installed)  # a folder or FIFO in the store: one line, never a blocked read
            return installed
        if text in REGISTRY:
            raise NotInstalledError(f"{text}: not installed; run `actionrec pull {text}`", option)
    if kind is not None:
        check_model_file(path)  # raises: a folder, a FIFO, a device
    known = ["default", *sorted(set(REGISTRY) | set(installed_names()))]
    raise UnknownModelError(f"{ref}: no such model file, nor a model name (known: {', '.join(known)})", option)


def _kind(path: Path, option: str) -> str | None:
    """`checkpoint.model_file_kind`, with a name the system refuses (too long) an unknown model."""
    from ..io.checkpoint import model_file_kind

    try:
        return model_file_kind(path)
    except ModelFileError as e:
        raise UnknownModelError(str(e), option) from None


def _default(path: Path) -> Path:
    if not path.exists():
        why = "from $ACTIONREC_MODEL" if os.environ.get("ACTIONREC_MODEL") else "missing from this install"
        raise ModelFileError(f"{path}: the default model is not there ({why}); pass a model file or name")
    return path


@dataclass(frozen=True)
class ModelRow:
    """One line of `actionrec models`."""

    name: str
    status: str  # "installed", "not installed" (pullable), "shipped" (the default), "missing"
    path: Path | None
    description: str


def list_models() -> list[ModelRow]:
    """Every pullable model (installed or not), every other model file in the store, and the shipped default."""
    from ..io.checkpoint import read_meta

    rows = []
    for entry in REGISTRY.values():
        path = installed_path(entry.name)
        installed = path.is_file()
        rows.append(ModelRow(entry.name, "installed" if installed else "not installed", path, entry.description))
    for name in installed_names():
        if name in REGISTRY:
            continue
        path = installed_path(name)
        try:
            meta = read_meta(path)
            text = f"{meta.arch}, {meta.num_classes} labels ({_labels_preview(meta.labels)})"
        except ActionrecError as e:
            text = f"unreadable: {e}"
        rows.append(ModelRow(name, "installed", path, text))
    default = default_model_path()
    rows.append(
        ModelRow("default", "shipped" if default.exists() else "missing", default, "the model used without --model")
    )
    return rows


def _labels_preview(labels: tuple[str, ...], n: int = 3) -> str:
    return ", ".join(labels[:n]) + (", ..." if len(labels) > n else "")


# ---- downloads and checks ----


@dataclass(frozen=True)
class Fetched:
    """A checked file: where it is, its SHA-256 (hex) and size in bytes."""

    path: Path
    sha256: str
    size: int


@contextlib.contextmanager
def download(
    url: str,
    folder: str | os.PathLike[str],
    *,
    sha256_prefix: str | None = None,
    progress: Progress | None = None,
    hint: str = "",
    timeout: float = TIMEOUT_S,
) -> Iterator[Fetched]:
    """Stream `url` into a temporary file in `folder`, hashing it on the way, and yield it once it is whole and its
    SHA-256 starts with `sha256_prefix`; the file is removed when the block ends, whatever happens. Raises
    DownloadError (no connection, HTTP error, a transfer shorter than its Content-Length) or ChecksumError.
    `hint` is appended to connection errors (how to do without the network)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _stream(url, out, progress, hint, timeout)
        _check_digest(url, digest, sha256_prefix)
        yield Fetched(tmp_path, digest, size)
    finally:
        tmp_path.unlink(missing_ok=True)


def _stream(url: str, out, progress: Progress | None, hint: str, timeout: float) -> tuple[str, int]:
    if not url.startswith(("https://", "http://")):
        raise DownloadError(f"{url}: only http(s) URLs are fetched")
    suffix = f"; {hint}" if hint else ""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}{suffix}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: cannot connect ({_reason(e.reason)}){suffix}") from None
    except (OSError, http.client.HTTPException) as e:
        raise DownloadError(f"{url}: cannot connect ({_reason(e)}){suffix}") from None
    sha, done = hashlib.sha256(), 0
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if progress:
            progress(0, total)
        try:
            while chunk := response.read(CHUNK):
                sha.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        except http.client.IncompleteRead as e:
            done += len(e.partial)
            raise DownloadError(f"{url}: transfer interrupted after {done} of {total} bytes; nothing kept") from None
        except (OSError, http.client.HTTPException) as e:  # reset, timeout mid-transfer
            why = _reason(e)
            raise DownloadError(f"{url}: transfer interrupted after {done} bytes ({why}); nothing kept") from None
    if total is not None and done != total:
        raise DownloadError(f"{url}: transfer interrupted after {done} of {total} bytes; nothing kept")
    return sha.hexdigest(), done


def _reason(e: object) -> str:
    if isinstance(e, socket.gaierror):
        return f"name lookup failed: {e.strerror or e}"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _check_digest(source: str | os.PathLike[str], digest: str, prefix: str | None) -> None:
    if prefix and not digest.startswith(prefix.lower()):
        raise ChecksumError(
            f"{source}: SHA-256 {digest[:16]}... does not start with {prefix.lower()} "
            "(corrupted or altered; not read, nothing installed)"
        )


def read_labels(text: str, source: str | os.PathLike[str], entry: HubEntry) -> tuple[str, ...]:
    """The names of a label list (one per line; surrounding whitespace, CRLF and blank lines dropped), checked:
    `entry.num_labels` distinct names whose normalised text hashes to `entry.labels_sha256`."""
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != entry.num_labels:
        raise LabelsError(f"{source}: {len(names)} labels, expected {entry.num_labels}")
    if len(set(names)) != len(names):
        dupes = sorted(n for n, count in Counter(names).items() if count > 1)
        raise LabelsError(f"{source}: repeated labels ({', '.join(dupes[:5])})")
    digest = hashlib.sha256(("\n".join(names) + "\n").encode("utf-8")).hexdigest()
    if digest != entry.labels_sha256:
        raise LabelsError(
            f"{source}: not the expected label list (names or order differ; SHA-256 {digest[:16]}... "
            f"vs {entry.labels_sha256[:16]}...)"
        )
    return names


def _read_text(path: Path, source: str | os.PathLike[str]) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LabelsError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise LabelsError(f"{source}: cannot read ({e.strerror or e})") from None


# ---- conversion and install ----


@dataclass(frozen=True)
class PullResult:
    """What `pull` did."""

    name: str
    path: Path  # the installed model file
    installed: bool  # False when it was already there (and not --force)
    labels: int = 0
    weights_source: str = ""  # URL or local file
    labels_source: str = ""
    sha256: str = ""  # of the weights file
    report: InitReport | None = None  # what load_pretrained did


def convert(
    entry: HubEntry, weights: str | os.PathLike[str], labels: tuple[str, ...], *, source: str, sha256: str
) -> tuple[nn.Module, ModelMeta, InitReport]:
    """Build the entry's network, load the (already checked) weights file into it with `load_pretrained` and
    demand a complete fit: nothing skipped, nothing new but the attention (which starts as the exact identity).
    Error messages name `source` (the URL or the user's file), not the temporary file."""
    import dataclasses

    from ..model_meta import ModelMeta
    from ..networks import build
    from .foreign import load_pretrained

    model = build(entry.arch, num_classes=len(labels), **dict(entry.arch_args))
    try:
        report = load_pretrained(model, weights)
    except ModelFileError as e:
        raise ModelFileError(str(e).replace(os.fspath(weights), source)) from None
    report = dataclasses.replace(report, source=source)
    if report.skipped:
        why = "; ".join(f"{k}: {report.reasons.get(k, 'unused')}" for k in report.skipped[:3])
        raise HubError(f"{source}: {len(report.skipped)} tensors do not fit {entry.arch} ({why})")
    missing = [n for n in report.new if ".attention." not in n]
    if missing:
        raise HubError(f"{source}: has no weights for {len(missing)} tensors ({', '.join(missing[:3])})")
    meta = ModelMeta(
        arch=entry.arch,
        arch_args=dict(entry.arch_args),
        labels=labels,
        preprocessing=entry.preprocessing,
        training={
            **dict(entry.training),
            "source": entry.weights_url,
            "sha256": sha256,
            "labels_source": entry.labels_url,
            "licence": entry.source,
            "converted": (
                f"actionrec pull {entry.name}: {len(report.loaded)} tensors loaded, "
                f"{len(report.new)} attention tensors new (fc1 random, fc2 and spatial conv zeroed), "
                f"{len(report.rescaled)} BatchNorms x4"
            ),
        },
    )
    return model.eval(), meta, report


def pull(
    name: str,
    *,
    weights_file: str | os.PathLike[str] | None = None,
    labels_file: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> PullResult:
    """Install a registry model as `<store>/<name>.safetensors`: fetch (or take `weights_file`) its weights and
    check their SHA-256 before reading them, fetch (or take `labels_file`) its label list and check it, convert,
    and write the model file atomically. `progress(done, total)` follows the weights download."""
    from ..io.checkpoint import save_model

    entry = REGISTRY.get(name)
    if entry is None:
        raise HubError(f"{name}: no such model to pull (known: {', '.join(sorted(REGISTRY)) or 'none'})")
    dest = installed_path(entry.name)
    if dest.is_file() and not force:
        return PullResult(entry.name, dest, installed=False)
    store = dest.parent
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HubError(f"{store}: cannot create the model store ({e.strerror or e})") from None
    with contextlib.ExitStack() as stack:
        if labels_file is not None:
            labels_source = os.fspath(labels_file)
            labels = read_labels(_read_text(_local(labels_file, "labels"), labels_source), labels_source, entry)
        else:
            labels_source = entry.labels_url
            hint = (
                f"offline? download it elsewhere and add `--labels {entry.labels_file_name}`"
                if weights_file is not None
                else entry.offline_hint()
            )
            fetched = stack.enter_context(download(entry.labels_url, store, hint=hint))
            labels = read_labels(_read_text(fetched.path, labels_source), labels_source, entry)
        if weights_file is not None:
            weights_source = os.fspath(weights_file)
            weights = _local(weights_file, "weights")
            sha256 = file_sha256(weights)
            _check_digest(weights_source, sha256, entry.weights_sha256_prefix)
        else:
            weights_source = entry.weights_url
            fetched = stack.enter_context(
                download(
                    entry.weights_url,
                    store,
                    sha256_prefix=entry.weights_sha256_prefix,
                    progress=progress,
                    hint=entry.offline_hint(),
                )
            )
            weights, sha256 = fetched.path, fetched.sha256
        model, meta, report = convert(entry, weights, labels, source=weights_source, sha256=sha256)
    try:
        save_model(dest, model, meta)
    except OSError as e:
        raise HubError(f"{dest}: cannot write ({e.strerror or e})") from None
    return PullResult(
        entry.name,
        dest,
        installed=True,
        labels=len(labels),
        weights_source=weights_source,
        labels_source=labels_source,
        sha256=sha256,
        report=report,
    )


def _local(path: str | os.PathLike[str], what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise HubError(f"{path}: no such {what} file")
    return path
