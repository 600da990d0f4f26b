"""The paper's CIFAR net (section 4.2) for any small image: a 3x3 stem, three stages of n blocks
at 16, 32 and 64 channels (times 4 with bottlenecks), global average pooling, one linear layer."""

import torch
from torch import nn

from study.nets.blocks import BLOCK_TYPES, Layers, initialise, make_shortcut
from study.nets.config import EXPANSION, LAYERS_PER_BLOCK, STAGE_WIDTHS, NetConfig, blocks_per_stage


class ThreeStageNet(nn.Module):
    """The net that `config` describes: a stem, three stages of n blocks, pooling, one
    linear layer."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        n = blocks_per_stage(config.depth, config.block)
        self.depth, self.residual, self.shortcut_option = config.depth, config.residual, config.shortcut
        self.block_type = BLOCK_TYPES[(config.unit, config.block)]
        self.expansion = EXPANSION[config.block]
        self.layers = Layers(config.norm, config.init)
        self.conv1 = self.layers.conv(config.in_channels, STAGE_WIDTHS[0], 3, in_branch=False)
        if config.unit == "original":  # the pre-activation stem hands its conv output to the first block's BN
            self.bn1 = self.layers.norm_layer(STAGE_WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        self.in_planes = STAGE_WIDTHS[0]
        self.stage1 = self._make_stage(STAGE_WIDTHS[0], n, stride=1)
        self.stage2 = self._make_stage(STAGE_WIDTHS[1], n, stride=2)
        self.stage3 = self._make_stage(STAGE_WIDTHS[2], n, stride=2)
        if config.unit == "preact":  # the last block's output is not activated: one BN-ReLU before pooling
            self.bn_final = self.layers.norm_layer(self.in_planes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = self.layers.classifier(self.in_planes, config.num_classes)
        blocks = [block for stage in (self.stage1, self.stage2, self.stage3) for block in stage]
        initialise(self, blocks, config.init, LAYERS_PER_BLOCK[config.block])

    def _make_stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            block_stride = stride if i == 0 else 1
            out_planes = planes * self.expansion
            shortcut = (
                make_shortcut(
                    self.shortcut_option, self.in_planes, out_planes, block_stride, self.config.unit, self.config.norm
                )
                if self.residual
                else None
            )
            layers.append(self.block_type(self.in_planes, planes, block_stride, shortcut, self.layers))
            self.in_planes = out_planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.config.unit == "original":
            x = self.relu(self.bn1(x))
        x = self.stage3(self.stage2(self.stage1(x)))
        if self.config.unit == "preact":
            x = self.relu(self.bn_final(x))
        return self.fc(torch.flatten(self.pool(x), 1))
