"""The blocks of the CIFAR nets, and their shortcuts: the paper's basic block and bottleneck
(conv-BN-ReLU, the addition, ReLU), the follow-up's pre-activation versions (BN-ReLU-conv, then the
addition), and shortcut options A (zero-padded identity), B and C (projections)."""

import torch
import torch.nn.functional as F
from torch import nn

from study.nets.config import EXPANSION


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def projection(in_planes: int, out_planes: int, stride: int, unit: str = "original") -> nn.Module:
    """A 1x1 conv where the shape changes (options B, C): followed by BN in the original unit; alone
    in the pre-activation unit, whose input is already normalised (He et al. 2016's code)."""
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


def make_shortcut(option: str, in_planes: int, out_planes: int, stride: int, unit: str = "original") -> nn.Module:
    changes_shape = stride != 1 or in_planes != out_planes
    if option == "C" or (option == "B" and changes_shape):
        return projection(in_planes, out_planes, stride, unit)
    if option == "A" and changes_shape:
        return ZeroPadShortcut(in_planes, out_planes, stride)
    return nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; with a shortcut it is residual, without it is plain."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce), 3x3 (stride here), 1x1 (expand to 4x), each conv-BN, ReLU between; the
    addition, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None):
        super().__init__()
        self.conv1 = conv1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * EXPANSION["bottleneck"])
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION["bottleneck"])
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class PreActBlock(nn.Module):
    """BN-ReLU-3x3 conv twice, then the addition; nothing after it (He et al. 2016)."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(activated))))
        return out if self.shortcut is None else out + self.shortcut(preact_shortcut_input(self.shortcut, x, activated))


class PreActBottleneck(nn.Module):
    """BN-ReLU-1x1, BN-ReLU-3x3 (stride here), BN-ReLU-1x1 (4x wider), then the addition."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: nn.Module | None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv1x1(in_planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * EXPANSION["bottleneck"])
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(activated))))
        out = self.conv3(self.relu(self.bn3(out)))
        return out if self.shortcut is None else out + self.shortcut(preact_shortcut_input(self.shortcut, x, activated))


def preact_shortcut_input(shortcut: nn.Module, x: torch.Tensor, activated: torch.Tensor) -> torch.Tensor:
    """A projection sees the pre-activated input, an identity (or zero-pad) the raw one: the
    identity path stays clean (He et al. 2016)."""
    return activated if isinstance(shortcut, nn.Conv2d) else x


BLOCK_TYPES = {
    ("original", "basic"): BasicBlock,
    ("original", "bottleneck"): Bottleneck,
    ("preact", "basic"): PreActBlock,
    ("preact", "bottleneck"): PreActBottleneck,
}
