"""actionrec: video action recognition with a 3D residual attention network.

>>> import actionrec
>>> model = actionrec.load()  # the shipped default model; or a model file, or an installed model's name
>>> result = model.predict("clip.mp4")
>>> result.label, result.windows[0].start_s

Importing the package changes no process-wide state; `actionrec.io.video.quiet_decoder_logs()` silences FFmpeg's
own messages, as the command line does.
"""

from .config import ModelMeta, Preprocessing
from .errors import ActionrecError, DataError, ModelFileError, VideoError
from .runtime.aggregate import LabelScore, VideoResult, WindowResult
from .runtime.pipeline import Recognizer, load

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
__version__ = "0.1.0"
