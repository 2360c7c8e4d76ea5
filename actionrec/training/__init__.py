"""Training: the recipe (recipe), the loop (loop), its processes under torchrun (processes), the data loaders,
validation, the run folder and resume state (run_dir), the random generators (rng) and the curves (plots)."""

from .loaders import training_clips
from .loop import train
from .optim import lr_factor
from .processes import is_main_process
from .recipe import FINE_TUNE, SCRATCH, ResolvedConfig, TrainConfig, arch_args_for, fine_tune_epochs, resolve
from .run_dir import METRICS_FILE, STATE_FILE, TrainResult, resume_config

__all__ = [
    "FINE_TUNE",
    "METRICS_FILE",
    "SCRATCH",
    "STATE_FILE",
    "ResolvedConfig",
    "TrainConfig",
    "TrainResult",
    "arch_args_for",
    "fine_tune_epochs",
    "is_main_process",
    "lr_factor",
    "resolve",
    "resume_config",
    "train",
    "training_clips",
]
