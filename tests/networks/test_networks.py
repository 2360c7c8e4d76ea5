"""The networks: shapes for every builder, attention-off equals the plain 3D ResNet, maps in [0, 1], gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from actionrec.networks import (
    BUILDERS,
    BasicBlock,
    attention_as_identity,
    build,
    count_parameters,
    gflops_per_clip,
    zero_init_residuals,
)
from actionrec.networks.attention import Attention3d, capture_spatial_maps

# The deep ResNets repeat what r3d10/r3d18 show, at 3-10x the time: the full suite runs them, the fast loop does not.
DEEP = {"r3d34", "r3d50"}
ARCHS = [pytest.param(a, marks=pytest.mark.slow) if a in DEEP else a for a in BUILDERS]

SMALL = {
    "r3d10": {"width": 8},
    "r3d18": {"width": 8},
    "r3d34": {"width": 8},
    "r3d50": {"width": 8},
    "dense3d": {"growth": 8, "block_layers": (2, 2, 2, 2)},
    "c3d": {"width": 8, "hidden": 64},
}


@pytest.mark.parametrize("arch", ARCHS)
def test_every_builder_outputs_logits(arch):
    """Each builder maps (N, 3, T, H, W) to (N, num_classes), at two input sizes."""
    for shape in [(2, 3, 8, 32, 32), (1, 3, 16, 48, 64)]:
        model = build(arch, num_classes=7, **SMALL[arch]).eval()
        with torch.no_grad():
            assert model(torch.randn(*shape)).shape == (shape[0], 7)


class PlainBasicBlock(nn.Module):
    """A reference block of torchvision's r3d, written independently of actionrec's."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(),
            nn.Conv3d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm3d(cout),
        )
        self.down = (
            nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )


def reference_r3d_params(layers, width, num_classes):
    stem = nn.Sequential(nn.Conv3d(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(width))
    total, cin = count_parameters(stem), width
    for i, depth in enumerate(layers):
        cout = width * 2**i
        for j in range(depth):
            total += count_parameters(PlainBasicBlock(cin, cout, 2 if i and not j else 1))
            cin = cout
    return total + count_parameters(nn.Linear(cin, num_classes))


@pytest.mark.parametrize(("arch", "layers"), [("r3d10", (1, 1, 1, 1)), ("r3d18", (2, 2, 2, 2))])
@pytest.mark.parametrize("width", [16, 64])
def test_attention_off_is_exactly_the_plain_resnet(arch, layers, width):
    """attention=False has the parameters of an independently written plain 3D ResNet; attention=True adds
    exactly the attention modules' parameters."""
    plain = build(arch, num_classes=101, width=width, attention=False)
    assert count_parameters(plain) == reference_r3d_params(layers, width, 101)
    assert not any(isinstance(m, Attention3d) for m in plain.modules())
    att = build(arch, num_classes=101, width=width, attention=True)
    extra = sum(count_parameters(m) for m in att.modules() if isinstance(m, Attention3d))
    assert count_parameters(att) == count_parameters(plain) + extra > count_parameters(plain)


def test_attention_stages_option_limits_where_attention_sits():
    """attention_stages=(3, 4) puts attention in the last two stages only."""
    model = build("r3d18", num_classes=5, width=8, attention_stages=(3, 4))
    names = [n for n, m in model.named_modules() if isinstance(m, Attention3d)]
    assert names and all(n.startswith(("layer3", "layer4")) for n in names)


@pytest.mark.parametrize("arch", ["r3d10", pytest.param("r3d50", marks=pytest.mark.slow)])
def test_identity_attention_computes_the_plain_network(arch):
    """attention_as_identity makes the attention network compute exactly what the plain one with the same
    weights computes (training-mode BN included), and its gates still get gradients."""
    torch.manual_seed(0)
    plain = build(arch, num_classes=4, width=8, attention=False)
    att = build(arch, num_classes=4, width=8, attention=True)
    att.load_state_dict(plain.state_dict(), strict=False)
    assert len(attention_as_identity(att)) == sum(isinstance(m, Attention3d) for m in att.modules())
    x = torch.randn(2, 3, 4, 16, 16)
    assert torch.allclose(att(x), plain(x), atol=1e-5)
    att(x).sum().backward()
    assert att.layer1[0].attention.channel.fc2.weight.grad.abs().sum() > 0


def test_identity_attention_in_dense_blocks_computes_the_plain_densenet():
    """In the dense variant the identity start makes constant 1/4 gates, which the BatchNorm after each dense block
    absorbs: in training mode the output equals the plain DenseNet's with the same weights."""
    torch.manual_seed(0)
    plain = build("dense3d", num_classes=4, growth=4, block_layers=(2, 2), attention=False)
    att = build("dense3d", num_classes=4, growth=4, block_layers=(2, 2), attention=True)
    att.load_state_dict(plain.state_dict(), strict=False)
    attention_as_identity(att)
    x = torch.randn(2, 3, 8, 32, 32)
    assert torch.allclose(att(x), plain(x), atol=1e-4)


@pytest.mark.parametrize("arch", ["r3d10", pytest.param("r3d50", marks=pytest.mark.slow)])
def test_zero_init_residuals_makes_every_block_the_identity(arch):
    """After zero_init_residuals each residual block passes its (non-negative) input through unchanged."""
    model = build(arch, num_classes=4, width=8).eval()
    zero_init_residuals(model)
    block = model.layer1[-1]  # identity shortcut (r3d50: the last of three bottlenecks, 32 channels)
    x = torch.rand(2, block.conv1.in_channels, 4, 8, 8)
    with torch.no_grad():
        assert torch.allclose(block(x), x)


@pytest.mark.parametrize("arch", ["r3d18", "dense3d"])
def test_spatial_maps_are_captured_and_in_unit_interval(arch):
    """capture_spatial_maps returns one (N, 1, T', H', W') map per attention module, values in [0, 1]."""
    model = build(arch, num_classes=4, **SMALL[arch]).eval()
    with capture_spatial_maps(model) as maps, torch.no_grad():
        model(torch.randn(2, 3, 8, 32, 32) * 3)
    expected = sum(isinstance(m, Attention3d) for m in model.modules())
    assert len(maps) == expected > 0
    for m in maps.values():
        assert m.shape[:2] == (2, 1) and m.ndim == 5
        assert m.min() >= 0.0 and m.max() <= 1.0


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_reach_the_stem(arch):
    """A backward pass gives the first convolution a non-zero gradient."""
    model = build(arch, num_classes=3, **SMALL[arch]).train()
    loss = nn.functional.cross_entropy(model(torch.randn(2, 3, 8, 32, 32)), torch.tensor([0, 2]))
    loss.backward()
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv3d))
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


def test_gflops_scale_with_width_and_input():
    """FLOP counting: 4x the width costs ~16x; twice the frames costs ~2x."""
    small = gflops_per_clip(build("r3d18", num_classes=10, width=16, attention=False), (3, 16, 112, 112))
    wide = gflops_per_clip(build("r3d18", num_classes=10, width=64, attention=False), (3, 16, 112, 112))
    long = gflops_per_clip(build("r3d18", num_classes=10, width=16, attention=False), (3, 32, 112, 112))
    assert 14 < wide / small < 17 and 1.9 < long / small < 2.1


def test_block_is_the_paper_composition():
    """A block computes relu(shortcut(x) + Ms * (Mc * branch(x))) itself: channel attention, then spatial attention,
    on the residual branch, then its own add and ReLU."""
    torch.manual_seed(0)
    block = BasicBlock(8, 16, 2, attention=True, reduction=4, spatial_kernel=(3, 7, 7)).eval()
    x = torch.randn(2, 8, 4, 10, 12)
    with torch.no_grad():
        f = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
        mc = torch.sigmoid(
            block.attention.channel.fc2(torch.relu(block.attention.channel.fc1(f.mean((2, 3, 4), keepdim=True))))
            + block.attention.channel.fc2(torch.relu(block.attention.channel.fc1(f.amax((2, 3, 4), keepdim=True))))
        )
        g = f * mc
        ms = torch.sigmoid(block.attention.spatial.gate.conv(torch.cat([g.mean(1, True), g.amax(1, True)], 1)))
        expected = torch.relu(block.downsample(x) + g * ms)
        torch.testing.assert_close(block(x), expected)
