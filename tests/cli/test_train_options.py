"""`actionrec train`'s options reach TrainConfig by name: every field has its option, every option its field."""

from __future__ import annotations

import dataclasses

import typer

from actionrec.choices import Architecture, DataLayout
from actionrec.cli import app
from actionrec.cli.train import ARCH_OPTIONS, OPTION_FIELDS, _config
from actionrec.training import SCRATCH, TrainConfig

NOT_FIELDS = {"out_alias", "threads", *ARCH_OPTIONS}  # options that are no field: --out, torch's threads, arch_args
NO_OPTION = {"resize_to", "arch_args"}  # fields no option names: set from --init's model; the network's options


def test_every_option_names_a_field_and_every_field_has_an_option():
    """The train command's parameters and TrainConfig's fields match one to one, through OPTION_FIELDS for the few
    named apart: a field added without its option (or the reverse) fails here."""
    command = typer.main.get_command(app).commands["train"]
    options = {OPTION_FIELDS.get(p.name, p.name) for p in command.params if p.name not in NOT_FIELDS}
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    assert options == fields - NO_OPTION


def test_options_given_become_the_config(tmp_path):
    """Options given on the command line become TrainConfig's fields (layout, --csv and -o by their own names, the
    lists parsed, the network's options as its builder's arguments); those left out are the recipe's."""
    csv = tmp_path / "list.csv"
    given = {
        "data": tmp_path,
        "layout": DataLayout.csv,
        "csv_list": csv,
        "arch": Architecture("r3d10"),
        "width": 8,
        "spatial_kernel": "1,3,3",
        "milestones": "3,5",
        "crop_scales": "1,0.5",
        "lr": 0.01,
    }
    config = _config(given, tmp_path / "run")
    assert (config.data, config.out, config.layout, config.csv) == (tmp_path, tmp_path / "run", DataLayout.csv, csv)
    assert (config.arch, config.arch_args) == ("r3d10", {"width": 8, "spatial_kernel": [1, 3, 3]})
    assert (config.milestones, config.crop_scales, config.lr) == ((3, 5), (1.0, 0.5), 0.01)
    left_out = ("clip_len", "frame_step", "crop", "epochs", "optimizer")  # not given: the from-scratch recipe's
    assert {name: getattr(config, name) for name in left_out} == {name: SCRATCH[name] for name in left_out}
