"""`actionrec train`: train or fine-tune a model on labelled videos, or resume a run."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from ..choices import Architecture, DataLayout, Optimizer, Precision, Schedule, TrainDevice
from .common import LAYOUT_HELP, OutAlias, ThreadsOpt, err, output_path, reported

app = typer.Typer()


RESUME_OPTIONS = {"resume", "epochs", "workers", "threads", "device"}  # what --resume may be given with
# Options reach TrainConfig's field of their own name; these few are named apart, or become the builder's arguments.
OPTION_FIELDS = {"csv_list": "csv", "output": "out"}
ARCH_OPTIONS = ("width", "growth", "attention", "reduction", "spatial_kernel", "dropout")  # arch_args_for's


class TrainCommand(TyperCommand):
    """The train command. --help shows TrainConfig's defaults and its recipes' values (SCRATCH, FINE_TUNE); the run
    takes only the options given, for `resolve` to fill the rest. The defaults are read from the training package
    when the options are first asked for (a run, its --help), not on every `actionrec` start: the training package
    loads torch, which the other commands never import."""

    _recipe_shown = False

    def get_params(self, ctx: typer.Context) -> list:
        if not self._recipe_shown:
            _show_recipe(self.params)
            self._recipe_shown = True
        return super().get_params(ctx)


def _show_recipe(params: list) -> None:
    """Give the options TrainConfig's defaults to show, and fill the {scratch[...]} and {fine_tune[...]} in their
    help texts from its recipes."""
    from ..training import FINE_TUNE, SCRATCH, TrainConfig

    defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)}
    recipes = {"scratch": _spelled(SCRATCH), "fine_tune": _spelled(FINE_TUNE)}
    for param in params:
        value = defaults.get(OPTION_FIELDS.get(param.name, param.name))
        if param.default is None and value not in (None, (), dataclasses.MISSING):
            param.default = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else value
        if param.help:
            param.help = param.help.format_map(recipes)


def _spelled(recipe: dict[str, Any]) -> dict[str, str]:
    """A recipe's values as help texts say them: on or off, an enum's value, 0.0005."""

    def word(value: Any) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, enum.Enum):
            return str(value.value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    return {name: word(value) for name, value in recipe.items()}


@app.command(cls=TrainCommand, short_help="Train or fine-tune a model on labelled videos.")
def train(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Argument(
            metavar="DATA",
            show_default=False,
            help="Labelled videos: folders per class, UCF-101/HMDB-51 with split files, or a .csv list "
            "[required unless --resume].",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Run folder: model files, metrics, plots, resume state [required unless --resume]."
        ),
    ] = None,
    out_alias: OutAlias = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder with its own recipe (--epochs may extend it) [default: a new run]."
        ),
    ] = None,
    layout: Annotated[DataLayout | None, typer.Option(help=f"Data set layout. {LAYOUT_HELP}.")] = None,
    split: Annotated[int | None, typer.Option(min=1, max=3, help="Official split of UCF-101 / HMDB-51.")] = None,
    csv_list: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="CSV list (path,label[,group]) of the videos in DATA [default: none, DATA's layout]."
        ),
    ] = None,
    val_fraction: Annotated[
        float | None, typer.Option(min=0.0, max=0.95, help="Held-out share of a folder/CSV set, split by group.")
    ] = None,
    group_regex: Annotated[
        str | None,
        typer.Option(
            help="Regex on file names; its first group (person, source) stays on one side, e.g. '_(s\\d+)_' "
            "[default: none, split by file]."
        ),
    ] = None,
    arch: Annotated[
        Architecture | None,
        typer.Option(
            help="Network: 3D residual attention ResNets, dense variant, C3D [default: --init's or {scratch[arch]}]."
        ),
    ] = None,
    width: Annotated[
        int | None, typer.Option(min=1, help="Channels of the first stage (r3d*, c3d) [default: --init's, else 64].")
    ] = None,
    growth: Annotated[int | None, typer.Option(min=1, help="Growth rate of dense3d [default: --init's, else 16].")] = (
        None
    ),
    attention: Annotated[
        bool | None,
        typer.Option(
            "--attention/--no-attention",
            show_default=False,
            help="Channel + spatial attention in every block (not c3d) [default: --init's, else on].",
        ),
    ] = None,
    reduction: Annotated[
        int | None, typer.Option(min=1, help="Channel attention reduction ratio [default: --init's, else 16].")
    ] = None,
    spatial_kernel: Annotated[
        str | None, typer.Option(help="Spatial attention kernel T,H,W [default: --init's, else 1,7,7].")
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.99, help="Dropout before the classifier [default: --init's, else 0, c3d 0.5]."),
    ] = None,
    clip_len: Annotated[
        int | None, typer.Option(min=1, help="Frames per clip [default: --init's, else {scratch[clip_len]}].")
    ] = None,
    frame_step: Annotated[
        int | None,
        typer.Option(min=1, help="Temporal stride inside a clip [default: --init's, else {scratch[frame_step]}]."),
    ] = None,
    crop: Annotated[
        int | None,
        typer.Option(min=8, help="Crop side in pixels (the paper: 112 or 224) [default: --init's or {scratch[crop]}]."),
    ] = None,
    resize: Annotated[int | None, typer.Option(min=8, help="Short side before cropping [default: crop * 8/7].")] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Total epochs [default: fine-tuning (--init) at least 15 and 150 steps, {scratch[epochs]} from "
            "scratch].",
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", "-b", min=1, help="Clips per step, all processes.")
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Peak learning rate [default: {fine_tune[lr]} fine-tuning, {scratch[lr]} from scratch]."
        ),
    ] = None,
    momentum: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="SGD momentum.")] = None,
    nesterov: Annotated[bool | None, typer.Option("--nesterov/--no-nesterov", help="Nesterov momentum.")] = None,
    optimizer: Annotated[
        Optimizer | None,
        typer.Option(
            help="sgd: the paper's; adamw: faster on small data [default: {fine_tune[optimizer]} fine-tuning, else "
            "{scratch[optimizer]}]."
        ),
    ] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Weight decay [default: {fine_tune[weight_decay]} fine-tuning, {scratch[weight_decay]} from scratch].",
        ),
    ] = None,
    schedule: Annotated[
        Schedule | None,
        typer.Option(
            help="Learning-rate decay [default: {fine_tune[schedule]} fine-tuning, {scratch[schedule]} from scratch]."
        ),
    ] = None,
    milestones: Annotated[
        str | None, typer.Option(help="Step schedule: epochs where lr *= gamma, e.g. 20,30 [default: 1/2, 3/4].")
    ] = None,
    gamma: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Step schedule decay factor.")] = None,
    warmup_epochs: Annotated[float | None, typer.Option(min=0.0, help="Linear warmup, in epochs.")] = None,
    precision: Annotated[
        Precision | None, typer.Option(help="auto: bf16 autocast where the hardware has it natively, else fp32.")
    ] = None,
    device: Annotated[TrainDevice | None, typer.Option(help="auto: CUDA when available.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Decoding processes per training process [default: min(8, CPUs)].")
    ] = None,
    threads: ThreadsOpt = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of initialisation, split, data order and augmentation.")
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Fine-tune from this model: an installed name (default, kinetics400-r3d18) or a file (actionrec, "
            "torchvision r3d_18, 3D-ResNets-PyTorch); its network and preprocessing apply unless given here "
            "[default: none, from scratch]."
        ),
    ] = None,
    hflip: Annotated[
        bool | None,
        typer.Option("--hflip/--no-hflip", help="Random horizontal flips (off for left/right-dependent classes)."),
    ] = None,
    crop_scales: Annotated[
        str | None, typer.Option(help="Multi-scale crop: crop side / short side choices, comma-separated.")
    ] = None,
    color_jitter: Annotated[
        float | None, typer.Option(min=0.0, max=0.9, help="Brightness/contrast/saturation jitter per clip (0 = off).")
    ] = None,
    channel_shuffle: Annotated[
        bool | None,
        typer.Option(
            "--channel-shuffle/--no-channel-shuffle",
            help="Random RGB order per clip, for data whose colours never tell the class.",
        ),
    ] = None,
    zero_init_residual: Annotated[
        bool | None,
        typer.Option(
            "--zero-init-residual/--no-zero-init-residual",
            help="Start each residual branch at zero (blocks begin as identity); from scratch only.",
        ),
    ] = None,
    identity_attention: Annotated[
        bool | None,
        typer.Option(
            "--identity-attention/--no-identity-attention",
            help="New attention starts as the identity (plain ResNet at step 0); off: random gates.",
        ),
    ] = None,
    val_clips: Annotated[int | None, typer.Option(min=1, help="Evenly spaced clips per validation video.")] = None,
    cache: Annotated[
        bool | None,
        typer.Option(
            "--cache/--no-cache",
            help="Keep decoded frames on disk after the first epoch (uint8 .npy) [default: {fine_tune[cache]} "
            "fine-tuning, {scratch[cache]} from scratch].",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Frame cache folder [default: ~/.cache/actionrec/frames].")
    ] = None,
) -> None:
    """Train a model on labelled videos; writes best/last model files, metrics.jsonl and curves to the run folder.
    Works under `torchrun --nproc_per_node N` (DistributedDataParallel)."""
    out = output_path(output, out_alias)
    given = {  # the options on the command line; the rest are TrainConfig's (and its recipes') to fill
        name: value for name, value in ctx.params.items() if ctx.get_parameter_source(name).name != "DEFAULT"
    }
    with reported():
        if resume is not None:
            extra = [
                param.opts[0] if param.param_type_name == "option" else param.name.upper()
                for param in ctx.command.params
                if param.name not in RESUME_OPTIONS and ctx.get_parameter_source(param.name).name == "COMMANDLINE"
            ]
            if extra:
                raise typer.BadParameter(f"{', '.join(extra)}: a resumed run keeps its recipe", param_hint="--resume")
        elif data is None or out is None:
            raise typer.BadParameter("give DATA and -o/--output RUN_DIR (or --resume RUN_DIR)")
        from ..training import is_main_process, resume_config
        from ..training import train as run_training

        if resume is not None:
            config = resume_config(resume, epochs=given.get("epochs"), workers=given.get("workers"))
            if "device" in given:
                config = dataclasses.replace(config, device=given["device"])
        else:
            config = _config(given, out)
            _describe_start(config)
        result = run_training(config, progress=True, console=err, threads=threads)
    if is_main_process():
        summary = {
            "run": str(result.run_dir),
            "best": str(result.best),
            "last": str(result.last),
            "best_epoch": result.best_epoch,
            "best_val_clip_acc": result.best_val_clip_acc,
            "best_val_video_acc": result.best_val_video_acc,
            "epochs_done": result.epochs_done,
        }
        typer.echo(json.dumps(summary, indent=2, allow_nan=False))


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected comma-separated integers", param_hint=option) from None


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        values = ()
    if not values or not all(0 < v <= 1 for v in values):
        raise typer.BadParameter(f"{text!r}: expected comma-separated numbers in (0, 1]", param_hint=option)
    return values


def _kernel(text: str, option: str) -> tuple[int, ...]:
    kernel = _ints(text, option)
    if len(kernel) != 3 or min(kernel) < 1 or not all(k % 2 for k in kernel):
        raise typer.BadParameter(f"{text}: want three odd sizes T,H,W", param_hint=option)
    return kernel


PARSED = {"spatial_kernel": _kernel, "milestones": _ints, "crop_scales": _floats}  # options given as text lists


def _config(given: dict[str, Any], out: Path):
    """The TrainConfig of the options given: each to the field of its name (OPTION_FIELDS: the few named apart), the
    lists parsed, the network's options checked against --arch and gathered as its builder's arguments. With no
    --arch, they are checked on the architecture `resolve` settles (--init's, or the default)."""
    from ..training import TrainConfig, arch_args_for, resolve

    values = {**given, "output": out}
    for name, parse in PARSED.items():
        if name in values:
            values[name] = parse(values[name], "--" + name.replace("_", "-"))
    network = {name: values.pop(name) for name in ARCH_OPTIONS if name in values}
    if "arch" in values:
        values["arch"] = Architecture(values["arch"]).value  # ctx.params: the text (or a member)
    args = arch_args_for(values["arch"], **network) if "arch" in values else network
    if args:
        values["arch_args"] = args
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    named = {OPTION_FIELDS.get(name, name): value for name, value in values.items()}
    config = resolve(TrainConfig(**{name: value for name, value in named.items() if name in fields}))
    if "arch" not in values:
        arch_args_for(config.arch, **network)
    return config


def _describe_start(config) -> None:
    """One line on stderr: where training starts from and the recipe that follows from it."""
    start = f"fine-tuning {config.init}" if config.init is not None else "training from scratch"
    epochs = f"{config.epochs} epochs" if config.epochs is not None else "epochs to suit the data"
    err.print(
        f"{start}: {config.arch} {config.arch_args}, clips of {config.clip_len} frames every {config.frame_step}, "
        f"crop {config.crop}; {config.optimizer.value} lr {config.lr:g}, {config.schedule.value}, {epochs}",
        highlight=False,
        soft_wrap=True,
    )
