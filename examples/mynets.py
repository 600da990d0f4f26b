"""A net of your own through the study: `model=custom model.builder=mynets:build` (docs/nets.md, "Any
net of yours"). Put this folder on PYTHONPATH (or install your package) and the harness imports it.

The block here is a small design of its own: two 3x3 conv-BN layers whose second one is scaled by a
learned per-channel gate, initialised to zero, so each residual block starts as the identity.
Its plain twin (residual=False) has the same layers without the addition. The 3x3 responses that
Figure 7 and the diagnostics measure are found without help here (each BatchNorm2d right after a
3x3 conv); a net laid out otherwise names them with a `response_layers()` method.
"""

import torch
from torch import nn


class GatedBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, residual: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.gate = nn.Parameter(torch.zeros(1, planes, 1, 1))
        self.shortcut = None  # the plain twin: no addition
        if residual:
            changes_shape = stride != 1 or in_planes != planes
            self.shortcut = (
                nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
                if changes_shape
                else nn.Identity()
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is None:
            return torch.relu((1 + self.gate) * out)
        return torch.relu(self.gate * out + self.shortcut(x))


def build(depth: int, residual: bool, num_classes: int, in_channels: int) -> nn.Module:
    """A (6n+2)-layer net of gated blocks in three stages of 16, 32 and 64 channels."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth {depth} is not 6n+2 with n >= 1 (8, 14, 20, ...)")
    n = (depth - 2) // 6
    layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    in_planes = 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(n):
            layers.append(GatedBlock(in_planes, planes, stride if i == 0 else 1, residual))
            in_planes = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_planes, num_classes)]
    return nn.Sequential(*layers)
