"""Training: the configuration and its recipes, the loop (single process or DDP), resume state and the run folder."""

from .train import (
    FINE_TUNE,
    METRICS_FILE,
    SCRATCH,
    STATE_FILE,
    TrainConfig,
    arch_args_for,
    fine_tune_epochs,
    lr_factor,
    resume_config,
    train,
    training_clips,
)

__all__ = [
    "FINE_TUNE",
    "METRICS_FILE",
    "SCRATCH",
    "STATE_FILE",
    "TrainConfig",
    "arch_args_for",
    "fine_tune_epochs",
    "lr_factor",
    "resume_config",
    "train",
    "training_clips",
]
