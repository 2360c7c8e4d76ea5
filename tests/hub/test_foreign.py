"""`load_pretrained`: torchvision r3d_18 and 3D-ResNets-PyTorch (Hara et al.) files map onto ResNet3d, the
attention starts as an exact identity, and the classifier is re-initialised when the class counts differ.

The foreign networks are rebuilt here from their published layouts (torchvision's models/video/resnet.py, Hara's
models/resnet.py), independently of the name mapping under test, so that equal logits prove the mapping right."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torchvision_r3d18 import TvBlock, TvR3d18

from actionrec.errors import ModelFileError
from actionrec.hub.foreign import load_pretrained, read_state
from actionrec.io.checkpoint import save_model
from actionrec.model_meta import ModelMeta
from actionrec.networks import build


class HaraBlock(nn.Module):
    """3D-ResNets-PyTorch BasicBlock: conv1/bn1/conv2/bn2 attributes, shortcut B downsample (conv, BN)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes)
            )


class HaraResNet10(nn.Module):
    """3D-ResNets-PyTorch resnet10 (layers [1, 1, 1, 1]): conv1 (t, 7, 7), bn1, maxpool, layer1-4, fc."""

    def __init__(self, conv1_t_size: int = 7, n_classes: int = 400, width: int = 64):
        super().__init__()
        pad = (conv1_t_size // 2, 3, 3)
        self.conv1 = nn.Conv3d(3, width, (conv1_t_size, 7, 7), stride=(1, 2, 2), padding=pad, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        inplanes = width
        for i in range(4):
            planes = width * 2**i
            setattr(self, f"layer{i + 1}", nn.Sequential(HaraBlock(inplanes, planes, 1 if i == 0 else 2)))
            inplanes = planes
        self.fc = nn.Linear(inplanes, n_classes)


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Give every tensor, BatchNorm statistics included, distinct random values, so that a wrong mapping shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * (0.1 if t.dim() > 1 else 0.5))
    return model.eval()


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory):
    """torchvision r3d_18 at its real size (64 wide, 400 Kinetics classes), saved as a plain state dict .pth."""
    torch.manual_seed(0)
    net = randomise(TvR3d18(400, 64), seed=1)
    path = tmp_path_factory.mktemp("init") / "r3d_18.pth"
    torch.save(net.state_dict(), path)
    return path, net


@pytest.fixture(scope="module")
def clip():
    return torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(2))


def test_torchvision_r3d18_maps_every_tensor_and_computes_the_same_logits(torchvision_file, clip):
    """Loaded into a plain r3d18 with 400 classes, every tensor is used and the logits equal torchvision's."""
    path, tv = torchvision_file
    ours = build("r3d18", num_classes=400, attention=False).eval()
    report = load_pretrained(ours, path)
    assert report.layout == "torchvision"
    assert len(report.loaded) == 102  # stem 5 + 8 blocks x 10 + 3 downsamples x 5 + fc 2
    assert report.new == () and report.skipped == () and report.rescaled == ()
    assert "layer2.0.bn1.running_var" in report.loaded and "layer3.0.downsample.1.weight" in report.loaded
    with torch.no_grad():
        torch.testing.assert_close(ours(clip), tv(clip), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_attention_starts_as_the_identity(torchvision_file, clip):
    """With attention on, the initialised network's logits equal the plain network's with the same weights."""
    path, _ = torchvision_file
    plain = build("r3d18", num_classes=400, attention=False).eval()
    attn = build("r3d18", num_classes=400, attention=True).eval()
    load_pretrained(plain, path)
    report = load_pretrained(attn, path)
    assert len(report.rescaled) == 8 and "layer4.1.bn2" in report.rescaled
    assert len(report.new) == 8 * 3  # per block: channel fc1, fc2, spatial conv
    assert all(".attention." in n for n in report.new)
    with torch.no_grad():
        torch.testing.assert_close(attn(clip), plain(clip), rtol=1e-5, atol=1e-6)
    fc1 = attn.layer1[0].attention.channel.fc1.weight
    assert fc1.abs().sum() > 0  # the MLP's first layer stays random, so the gates get gradients at once


@pytest.mark.slow
def test_classifier_is_reinitialised_when_the_class_count_differs(torchvision_file, clip):
    """A 5-class model keeps its fresh fc, reports torchvision's 400-class fc as skipped, shares the features."""
    path, tv = torchvision_file
    model = build("r3d18", num_classes=5, attention=True).eval()
    fresh_fc = model.fc.weight.detach().clone()
    report = load_pretrained(model, path)
    assert {"fc.weight", "fc.bias"} <= set(report.new)
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    assert report.reasons["fc.weight"] == "shape 400x512 vs 5x512"
    assert torch.equal(model.fc.weight, fresh_fc)
    with torch.no_grad():
        torch.testing.assert_close(model.features(clip).mean((2, 3, 4)), tv.features(clip), rtol=1e-4, atol=1e-5)
    text = report.summary()
    assert "loaded 100 tensors" in text and "26 new" in text and "2 skipped" in text and "fc.weight" in text


@pytest.mark.parametrize("t_size", [7, 3])
def test_hara_checkpoint(tmp_path, t_size):
    """A 3D-ResNets-PyTorch checkpoint ({'state_dict': module.-prefixed}) loads its blocks and stem BN; its stem
    conv loads when conv1_t_size is 3 and is skipped, with the shapes named, when it is 7."""
    hara = randomise(HaraResNet10(conv1_t_size=t_size, n_classes=400, width=16), seed=3)
    path = tmp_path / "resnet-10-kinetics.pth"
    state = {f"module.{k}": v for k, v in hara.state_dict().items()}
    torch.save({"epoch": 200, "arch": "resnet-10", "state_dict": state, "optimizer": {"lr": 0.1}}, path)
    model = build("r3d10", num_classes=4, width=16, attention=True)
    report = load_pretrained(model, path)
    assert report.layout == "hara"
    got = model.state_dict()
    torch.testing.assert_close(got["stem.1.running_mean"], hara.bn1.running_mean)
    torch.testing.assert_close(got["layer3.0.conv2.weight"], hara.layer3[0].conv2.weight)
    torch.testing.assert_close(got["layer2.0.downsample.1.running_var"], hara.layer2[0].downsample[1].running_var)
    torch.testing.assert_close(got["layer1.0.bn1.bias"], hara.layer1[0].bn1.bias)
    torch.testing.assert_close(got["layer1.0.bn2.bias"], 4 * hara.layer1[0].bn2.bias)  # feeds new attention
    if t_size == 7:
        assert "conv1.weight" in report.skipped and "stem.0.weight" in report.new
        assert report.reasons["conv1.weight"] == "shape 16x3x7x7x7 vs 16x3x3x7x7"
    else:
        assert "stem.0.weight" in report.loaded
        torch.testing.assert_close(got["stem.0.weight"], hara.conv1.weight)
    assert set(report.skipped) - {"conv1.weight"} == {"fc.weight", "fc.bias"}


def test_actionrec_model_file_and_safetensors(tmp_path, clip):
    """An actionrec model file (.safetensors) loads entirely, attention included and left as trained."""
    torch.manual_seed(4)
    src = randomise(build("r3d10", num_classes=3, width=8, attention=True), seed=4)
    path = save_model(tmp_path / "mine.safetensors", src, ModelMeta("r3d10", {"width": 8}, ("a", "b", "c")))
    dst = build("r3d10", num_classes=3, width=8, attention=True).eval()
    report = load_pretrained(dst, path)
    assert report.layout == "actionrec" and report.new == () and report.rescaled == ()
    with torch.no_grad():
        torch.testing.assert_close(dst(clip), src(clip))


def test_torchvision_layout_as_safetensors(tmp_path):
    """The same torchvision names stored as .safetensors are read the same way."""
    tv = randomise(TvR3d18(10, 8), seed=5)
    path = tmp_path / "r3d.safetensors"
    save_file({k: v.contiguous() for k, v in tv.state_dict().items()}, str(path))
    model = build("r3d18", num_classes=10, width=8, attention=False)
    report = load_pretrained(model, path)
    assert report.layout == "torchvision" and len(report.loaded) == 102
    assert torch.equal(model.layer4[1].bn1.running_mean, tv.layer4[1].conv1[1].running_mean)


def test_bad_files_are_clear_errors(tmp_path):
    """A pickled module (needs code), a corrupt file, a missing file, a file that fits nothing and a
    non-ResNet network each raise ModelFileError naming the file."""
    model = build("r3d10", num_classes=3, width=8, attention=False)
    pickled = tmp_path / "whole_model.pth"
    torch.save(TvBlock(4, 4), pickled)
    with pytest.raises(ModelFileError, match="holds objects actionrec will not unpickle"):
        read_state(pickled)
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    with pytest.raises(ModelFileError, match=r"corrupt\.pth: not a readable"):
        load_pretrained(model, corrupt)
    with pytest.raises(ModelFileError, match="no such weights file"):
        load_pretrained(model, tmp_path / "missing.pth")
    wide = tmp_path / "wide.pth"
    torch.save(TvR3d18(3, 16).state_dict(), wide)
    with pytest.raises(ModelFileError, match="none of its"):
        load_pretrained(model, wide)
    with pytest.raises(ModelFileError, match="r3d"):
        load_pretrained(build("c3d", num_classes=3, width=4, hidden=8), wide)


@pytest.mark.slow
def test_a_converted_model_loads_into_plain_blocks_undistorted(tmp_path, clip):
    """A model converted as `pull` converts (torchvision weights, attention as the identity, so each block's last
    BatchNorm x4) loaded into a network without attention (`train --init kinetics400-r3d18 --no-attention`) has
    that x4 undone: its logits equal those of the plain network loaded from the torchvision file itself."""
    tv = randomise(TvR3d18(10, 8), seed=7)
    tv_file = tmp_path / "r3d.pth"
    torch.save(tv.state_dict(), tv_file)
    converted = build("r3d18", num_classes=10, width=8, attention=True).eval()
    assert len(load_pretrained(converted, tv_file).rescaled) == 8
    meta = ModelMeta("r3d18", {"width": 8}, tuple("abcdefghij"))
    path = save_model(tmp_path / "converted.safetensors", converted, meta)
    direct = build("r3d18", num_classes=10, width=8, attention=False).eval()
    load_pretrained(direct, tv_file)
    plain = build("r3d18", num_classes=10, width=8, attention=False).eval()
    report = load_pretrained(plain, path)
    assert len(report.unscaled) == 8 and "layer4.1.bn2" in report.unscaled
    assert "scaled back x0.25" in report.summary()
    with torch.no_grad():
        torch.testing.assert_close(plain(clip), direct(clip), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(plain(clip), converted(clip), rtol=1e-5, atol=1e-6)
    assert torch.equal(plain.layer2[0].bn2.weight, tv.layer2[0].conv2[1].weight)


def test_trained_attention_into_plain_blocks_is_refused(tmp_path):
    """A model file whose attention was trained (gates not constant) has no plain equivalent: loading it into a
    network without attention is one ModelFileError naming the file and saying to keep attention."""
    trained = randomise(build("r3d10", num_classes=3, width=8, attention=True), seed=8)
    path = save_model(tmp_path / "trained.safetensors", trained, ModelMeta("r3d10", {"width": 8}, ("a", "b", "c")))
    with pytest.raises(
        ModelFileError, match=r"trained\.safetensors: its blocks have trained attention .*keep attention"
    ):
        load_pretrained(build("r3d10", num_classes=3, width=8, attention=False), path)


def test_a_planted_pickle_is_refused_without_pointing_at_the_unsafe_path(tmp_path):
    """A `state.pt` whose pickle would run code (os.makedirs of a marker) is one ModelFileError naming the file and
    saying it holds objects actionrec will not unpickle; torch's advice to re-run with weights_only=False is never
    relayed, and the code never runs."""
    import os

    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return os.makedirs, (str(marker),)

    planted = tmp_path / "state.pt"
    torch.save({"version": 1, "model": {"stem.0.weight": torch.zeros(1)}, "extra": Payload()}, planted)
    with pytest.raises(ModelFileError) as caught:
        read_state(planted)
    message = str(caught.value)
    assert message.startswith(f"{planted}: holds objects actionrec will not unpickle")
    assert "weights_only" not in message and "False" not in message and len(message.splitlines()) == 1
    assert not marker.exists()


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    """A deflate-compressed .pth whose members would expand 1000:1 (a 20 MB tensor of zeros in a file of about
    20 kB) is refused from the archive's directory, naming the file and the sizes, before torch reads it; the same
    tensors in torch's own (stored) archive still load."""
    import zipfile

    plain = tmp_path / "plain.pth"
    torch.save({"stem.0.weight": torch.zeros(5_000_000)}, plain)
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    ratio = sum(i.file_size for i in zipfile.ZipFile(bomb).infolist()) / bomb.stat().st_size
    assert ratio > 500
    with pytest.raises(ModelFileError, match=r"bomb\.pth: its archive would expand to 20,00\d,\d{3} bytes"):
        read_state(bomb)
    assert read_state(plain)["stem.0.weight"].shape == (5_000_000,)
