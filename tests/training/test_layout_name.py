"""A data set's layout has one name, `layout`, from the command line to the recipe a run and a model file record;
recipes written before the rename (the key "format") still read as the layout they named."""

from __future__ import annotations

import dataclasses

from actionrec.choices import DataLayout
from actionrec.io.checkpoint import read_meta
from actionrec.scoring import choose_split
from actionrec.training import TrainConfig


def test_a_run_records_layout_and_an_old_config_json_with_format_still_reads(tmp_path):
    """TrainConfig.to_dict (config.json, the model file's recipe) writes "layout"; a dict from an older run, with
    "format", gives the same layout back."""
    config = TrainConfig(data=tmp_path, out=tmp_path / "run", layout=DataLayout.ucf101)
    saved = config.to_dict()
    assert saved["layout"] == "ucf101" and "format" not in saved
    old = {k: v for k, v in saved.items() if k != "layout"} | {"format": "hmdb51"}
    assert TrainConfig.from_dict(old).layout is DataLayout.hmdb51
    assert TrainConfig.from_dict(saved) == config


def test_evaluate_takes_the_layout_from_an_old_model_files_recipe(tiny_model, tmp_path):
    """On the data a model was trained on, `evaluate` scores with the layout its recipe names, whether the recipe
    says "layout" (now) or "format" (model files written before)."""
    meta = read_meta(tiny_model)
    for key in ("layout", "format"):
        recipe = {key: "csv", "split": 1, "val_fraction": 0.25, "group_regex": None, "seed": 0, "csv": None}
        trained = dataclasses.replace(meta, training={"data_path": str(tmp_path), "recipe": recipe})
        choice = choose_split(tmp_path, trained)
        assert (choice.layout, choice.val_fraction) == ("csv", 0.25), key
