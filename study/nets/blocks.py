"""The blocks of the CIFAR nets, and their shortcuts: the paper's basic block and bottleneck
(conv-BN-ReLU, the addition, ReLU), the follow-up's pre-activation versions (BN-ReLU-conv, then the
addition), and shortcut options A (zero-padded identity), B and C (projections). What each block
is made of follows the net's normalisation and init (`Layers`): BN or none, and the scalars that
Fixup and SkipInit add to each residual branch."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from study.nets.config import EXPANSION


class Bias(nn.Module):
    """A learnable scalar added to its input, starting at 0 (Fixup's biases)."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class Scale(nn.Module):
    """A learnable scalar multiplying its input: SkipInit's, starting at 0, ends a residual branch."""

    def __init__(self, value: float):
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class ScaleBias(nn.Module):
    """Fixup's end of a residual branch: a scalar multiplier starting at 1, then a scalar bias at 0."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias


class InputBiasConv2d(nn.Conv2d):
    """A conv with a learnable scalar added to its input (Fixup puts one before every conv of a
    branch and before the classifier)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x + self.input_bias)


class InputBiasLinear(nn.Linear):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x + self.input_bias)


@dataclass(frozen=True)
class Layers:
    """What a net's layers are, by its normalisation (`norm`) and init (`init`; NetConfig). With
    BN (the paper's) convs have no bias; without it they keep theirs, as published norm-free nets
    do, except under Fixup, whose scalar biases take their place. A norm slot keeps its name (bn1,
    bn2, ...) whatever fills it, so the paper's nets keep their weights' names."""

    norm: str = "batch"
    init: str = "he"

    def conv(self, in_planes: int, out_planes: int, kernel: int, stride: int = 1, in_branch: bool = True):
        conv = InputBiasConv2d if self.init == "fixup" and in_branch else nn.Conv2d
        bias = self.norm == "none" and self.init != "fixup"
        return conv(in_planes, out_planes, kernel, stride=stride, padding=kernel // 2, bias=bias)

    def norm_layer(self, planes: int, last_in_branch: bool = False) -> nn.Module:
        """BN; without it, nothing, or under Fixup a scalar bias (and, ending a branch, its multiplier)."""
        if self.norm == "batch":
            return nn.BatchNorm2d(planes)
        if self.init == "fixup":
            return ScaleBias() if last_in_branch else Bias()
        return nn.Identity()

    def branch_end(self) -> nn.Module:
        """What ends a residual branch before the addition: SkipInit's scalar at 0, else nothing."""
        return Scale(0.0) if self.init == "skipinit" else nn.Identity()

    def classifier(self, in_features: int, classes: int) -> nn.Linear:
        return (InputBiasLinear if self.init == "fixup" else nn.Linear)(in_features, classes)


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def projection(in_planes: int, out_planes: int, stride: int, unit: str = "original", norm: str = "batch") -> nn.Module:
    """A 1x1 conv where the shape changes (options B, C): followed by BN in the original unit; alone
    in the pre-activation unit, whose input is already normalised (He et al. 2016's code), and
    alone, with its bias, without normalisation."""
    if norm == "none":
        return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=True)
    if unit == "preact":
        return conv1x1(in_planes, out_planes, stride)
    return nn.Sequential(conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


class ZeroPadShortcut(nn.Module):
    """Option A: identity on the first channels, zeros for the new ones, stride-2 subsampling."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.extra_channels = out_planes - in_planes
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


def make_shortcut(
    option: str, in_planes: int, out_planes: int, stride: int, unit: str = "original", norm: str = "batch"
) -> nn.Module:
    changes_shape = stride != 1 or in_planes != out_planes
    if option == "C" or (option == "B" and changes_shape):
        return projection(in_planes, out_planes, stride, unit, norm)
    if option == "A" and changes_shape:
        return ZeroPadShortcut(in_planes, out_planes, stride)
    return nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; with a shortcut it is residual, without it is plain."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None, layers=Layers()):
        super().__init__()
        self.conv1 = layers.conv(in_planes, planes, 3, stride)
        self.bn1 = layers.norm_layer(planes)
        self.conv2 = layers.conv(planes, planes, 3)
        self.bn2 = layers.norm_layer(planes, last_in_branch=True)
        self.branch_end = layers.branch_end()
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.branch_end(self.bn2(self.conv2(out)))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce), 3x3 (stride here), 1x1 (expand to 4x), each conv-BN, ReLU between; the
    addition, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None, layers=Layers()):
        super().__init__()
        self.conv1 = layers.conv(in_planes, planes, 1)
        self.bn1 = layers.norm_layer(planes)
        self.conv2 = layers.conv(planes, planes, 3, stride)
        self.bn2 = layers.norm_layer(planes)
        self.conv3 = layers.conv(planes, planes * EXPANSION["bottleneck"], 1)
        self.bn3 = layers.norm_layer(planes * EXPANSION["bottleneck"], last_in_branch=True)
        self.branch_end = layers.branch_end()
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.branch_end(self.bn3(self.conv3(out)))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class PreActBlock(nn.Module):
    """BN-ReLU-3x3 conv twice, then the addition; nothing after it (He et al. 2016)."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None, layers=Layers()):
        super().__init__()
        self.bn1 = layers.norm_layer(in_planes)
        self.conv1 = layers.conv(in_planes, planes, 3, stride)
        self.bn2 = layers.norm_layer(planes)
        self.conv2 = layers.conv(planes, planes, 3)
        self.branch_end = layers.branch_end()
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = self.branch_end(self.conv2(self.relu(self.bn2(self.conv1(activated)))))
        return out if self.shortcut is None else out + self.shortcut(preact_shortcut_input(self.shortcut, x, activated))


class PreActBottleneck(nn.Module):
    """BN-ReLU-1x1, BN-ReLU-3x3 (stride here), BN-ReLU-1x1 (4x wider), then the addition."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None, layers=Layers()):
        super().__init__()
        self.bn1 = layers.norm_layer(in_planes)
        self.conv1 = layers.conv(in_planes, planes, 1)
        self.bn2 = layers.norm_layer(planes)
        self.conv2 = layers.conv(planes, planes, 3, stride)
        self.bn3 = layers.norm_layer(planes)
        self.conv3 = layers.conv(planes, planes * EXPANSION["bottleneck"], 1)
        self.branch_end = layers.branch_end()
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(activated))))
        out = self.branch_end(self.conv3(self.relu(self.bn3(out))))
        return out if self.shortcut is None else out + self.shortcut(preact_shortcut_input(self.shortcut, x, activated))


def preact_shortcut_input(shortcut: nn.Module, x: torch.Tensor, activated: torch.Tensor) -> torch.Tensor:
    """A projection sees the pre-activated input, an identity (or zero-pad) the raw one: the
    identity path stays clean (He et al. 2016)."""
    return activated if isinstance(shortcut, nn.Conv2d) else x


def branch_convs(block: nn.Module) -> list[nn.Conv2d]:
    """A block's convs outside its shortcut, in forward order: its residual branch."""
    return [m for name, m in block.named_modules() if isinstance(m, nn.Conv2d) and not name.startswith("shortcut")]


def initialise(net: nn.Module, blocks: list[nn.Module], init: str, layers_per_block: int) -> None:
    """The init NetConfig.init names, over a net whose modules were just built.

    he          every conv He-normal (fan in; He et al. 2015b), conv biases 0
    zero_gamma  he, then each residual branch's last BN scale 0 (Goyal et al. 2017)
    fixup       he outside the branches; in each branch the last conv 0 and the others He-normal
                (fan out, as Fixup's code) times L^(-1/(2m-2)), L branches of m layers; the
                classifier's weights and bias 0 (Zhang, Dauphin & Ma 2019)
    skipinit    he; each branch's closing scalar is already 0 (De & Smith 2020)
    """
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if init == "zero_gamma":
        for block in blocks:
            norms = [m for name, m in block.named_modules() if isinstance(m, nn.BatchNorm2d) and "shortcut" not in name]
            nn.init.zeros_(norms[-1].weight)
    if init == "fixup":
        scale = len(blocks) ** (-1 / (2 * layers_per_block - 2))
        for block in blocks:
            *inner, last = branch_convs(block)
            for conv in inner:
                fan_out = conv.out_channels * math.prod(conv.kernel_size)
                nn.init.normal_(conv.weight, mean=0.0, std=math.sqrt(2 / fan_out) * scale)
            nn.init.zeros_(last.weight)
        nn.init.zeros_(net.fc.weight)
        nn.init.zeros_(net.fc.bias)


BLOCK_TYPES = {
    ("original", "basic"): BasicBlock,
    ("original", "bottleneck"): Bottleneck,
    ("preact", "basic"): PreActBlock,
    ("preact", "bottleneck"): PreActBottleneck,
}
