"""Imported by the forkserver that starts training's DataLoader workers (`set_forkserver_preload`): it dies with
the training process that started it."""

from .children import die_with_parent

die_with_parent()
