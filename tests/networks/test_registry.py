"""The network registry (`networks.NETWORKS`) is the one place that says what each architecture takes and whether it
is a residual net: training's option check and the torch back end's layout both follow it."""

from __future__ import annotations

import pytest
import torch

from actionrec.errors import ActionrecError
from actionrec.networks import NETWORKS, build
from actionrec.training.recipe import arch_args_for

# A small value for every option any network takes (the test builds each network with all of its own).
VALUES = {"width": 8, "growth": 4, "attention": False, "reduction": 4, "spatial_kernel": (1, 3, 3), "dropout": 0.1}


@pytest.mark.parametrize("arch", list(NETWORKS))
def test_each_registered_option_is_a_builder_argument_and_train_accepts_exactly_those(arch):
    """Every option the registry lists for `arch` builds a working network through `arch_args_for`, and every
    other option is refused with a one-line error naming it."""
    options = NETWORKS[arch].options
    assert options and options <= set(VALUES)
    args = arch_args_for(arch, **{k: VALUES[k] for k in options})
    model = build(arch, num_classes=3, **args).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 8, 32, 32)).shape == (1, 3)
    for other in sorted(set(VALUES) - options):
        with pytest.raises(ActionrecError, match=f"--{other.replace('_', '-')}: not an option of --arch {arch}"):
            arch_args_for(arch, **{other: VALUES[other]})


def test_residual_flag_marks_exactly_the_resnets():
    """`residual` (channels_last_3d for wide fp32 nets in the torch back end) is set for the networks that are 3D
    ResNets and for no other."""
    from actionrec.networks import ResNet3d

    for arch, network in NETWORKS.items():
        model = build(arch, num_classes=2, **{k: VALUES[k] for k in network.options})
        assert network.residual == isinstance(model, ResNet3d), arch
