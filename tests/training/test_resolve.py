"""TrainConfig is data and `resolve` is the step that reads `--init`'s model file and fills what was left open."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from actionrec.errors import ActionrecError
from actionrec.io.checkpoint import read_meta
from actionrec.training import SCRATCH, ResolvedConfig, TrainConfig, resolve


def test_constructing_reads_nothing_and_resolve_names_the_missing_init(tmp_path):
    """A TrainConfig whose init is a file that does not exist constructs fine, its open fields still None; resolve()
    raises one line naming the file."""
    missing = tmp_path / "gone.safetensors"
    config = TrainConfig(data=tmp_path, out=tmp_path / "run", init=missing)
    assert config.init == missing and config.arch is None and config.lr is None and config.clip_len is None
    with pytest.raises(ActionrecError) as caught:
        resolve(config)
    message = str(caught.value)
    assert str(missing) in message and "\n" not in message


def test_a_damaged_init_fails_in_resolve_not_in_the_constructor(tmp_path):
    """A model file that is not one (random bytes) is only read by resolve(), which says so in one line naming it."""
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x07not a safetensors file" * 8)
    config = TrainConfig(data=tmp_path, out=tmp_path / "run", init=damaged)
    with pytest.raises(ActionrecError) as caught:
        resolve(config)
    assert str(damaged) in str(caught.value) and "\n" not in str(caught.value)


def test_resolve_fills_from_init_and_leaves_the_input_as_it_was(tiny_model, tmp_path):
    """Pure config in, resolved config out: the model file's network and input fill the open fields, the given ones
    stay, the input config is unchanged, and resolving a resolved config gives it back."""
    meta = read_meta(tiny_model)
    config = TrainConfig(data=tmp_path, out=tmp_path / "run", init=tiny_model, lr=0.01)
    before = config.to_dict()
    resolved = resolve(config)
    assert isinstance(resolved, ResolvedConfig) and config.to_dict() == before
    assert (resolved.arch, resolved.arch_args, resolved.lr) == (meta.arch, meta.arch_args, 0.01)
    assert resolved.preprocessing == meta.preprocessing
    assert resolve(resolved) is resolved
    scratch = resolve(TrainConfig(data=tmp_path, out=tmp_path / "run"))
    assert {name: getattr(scratch, name) for name in SCRATCH} == SCRATCH


def test_a_saved_recipe_resolves_to_itself_after_its_init_is_gone(tiny_model, tmp_path):
    """config.json's recipe (a resolved config's to_dict) read back and resolved is the same recipe, even once the
    model file it started from is gone: a resumed run needs nothing from it."""
    init = tmp_path / "init.safetensors"
    shutil.copy(tiny_model, init)
    resolved = resolve(TrainConfig(data=tmp_path, out=tmp_path / "run", init=init, epochs=3))
    init.unlink()
    again = resolve(TrainConfig.from_dict(resolved.to_dict()))
    assert again.to_dict() == resolved.to_dict()
    assert dataclasses.replace(again, epochs=5).epochs == 5 and isinstance(dataclasses.replace(again), ResolvedConfig)
