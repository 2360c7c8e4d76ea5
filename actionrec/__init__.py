"""actionrec: video action recognition with a 3D residual attention network.

>>> import actionrec
>>> model = actionrec.load()  # the shipped default model; or a model file, or an installed model's name
>>> result = model.predict("clip.mp4")
>>> result.label, result.windows[0].start_s

Importing the package changes no process-wide state; `actionrec.io.video.quiet_decoder_logs()` silences FFmpeg's
own messages, as the command line does.
"""

from typing import TYPE_CHECKING

from .errors import ActionrecError, DataError, ModelFileError, VideoError
from .model_meta import VERSION, ModelMeta, Preprocessing

if TYPE_CHECKING:
    from .runtime.aggregate import LabelScore, VideoResult, WindowResult
    from .runtime.pipeline import Recognizer, load

# Imported on first use (PEP 562): importing the package, or any module in it, then costs no numpy, OpenCV or back
# end, and each command of the command line imports only what it uses (`--help` and `info` stay fast).
_LAZY = {
    "LabelScore": "runtime.aggregate",
    "VideoResult": "runtime.aggregate",
    "WindowResult": "runtime.aggregate",
    "Recognizer": "runtime.pipeline",
    "load": "runtime.pipeline",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ActionrecError",
    "DataError",
    "LabelScore",
    "ModelFileError",
    "ModelMeta",
    "Preprocessing",
    "Recognizer",
    "VideoError",
    "VideoResult",
    "WindowResult",
    "load",
]
__version__ = VERSION
