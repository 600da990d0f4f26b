"""The CIFAR-10 nets of He et al. (2015), section 4.2: plain and residual 6n+2-layer stacks.

    stem    3x3 conv, 16 filters, BN, ReLU                      32x32
    stage1  n blocks of two 3x3 convs, 16 filters               32x32
    stage2  n blocks, 32 filters, the first conv has stride 2   16x16
    stage3  n blocks, 64 filters, the first conv has stride 2    8x8
    head    global average pooling, one linear layer

A residual block computes relu(BN(conv(relu(BN(conv(x))))) + shortcut(x)); its plain twin has the
same layers without "+ shortcut(x)". Shortcut options: A zero-pads the new channels (no
parameters), B projects (1x1 conv + BN) only where the shape changes, C projects on every block.

    depth  n    params (plain = option A)   forward MACs / 32x32 image
    20     3      269,722                     41M
    32     5      464,154                     70M
    44     7      658,586                     98M
    56     9      853,018                    126M
    110    18   1,727,962                    253M
    1202   200 19,421,274                    2.8G

`python -m study.nets` (`make models`) recounts this table and checks it against `study.paper`.
"""

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from study import paper

__all__ = [
    "ARCHS",
    "SHORTCUTS",
    "NetConfig",
    "CifarNet",
    "build_net",
    "build_cifar_net",
    "blocks_per_stage",
    "response_layers",
    "count_parameters",
    "forward_macs",
]

ARCHS = ("plain", "resnet")
SHORTCUTS = ("A", "B", "C")
STAGE_WIDTHS = (16, 32, 64)


def blocks_per_stage(depth: int) -> int:
    """n for a 6n+2-layer net; a ValueError naming the nearest valid depths for any other depth."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        lower = 6 * ((int(depth) - 2) // 6) + 2 if isinstance(depth, (int, float)) else 8
        nearest = sorted({max(8, lower), max(8, lower + 6)})
        raise ValueError(
            f"depth {depth!r} is not a CIFAR net depth: it must be 6n+2 with n >= 1 "
            f"(the paper uses {', '.join(map(str, paper.DEPTHS))}); nearest valid: {' or '.join(map(str, nearest))}"
        )
    return (depth - 2) // 6


@dataclass(frozen=True)
class NetConfig:
    """What builds a net. Checkpoints carry it as a plain dict (`as_dict`), so a net can be rebuilt
    from a checkpoint alone; any value that cannot build a net is refused here, with a ValueError
    that names it."""

    arch: str = "resnet"
    depth: int = 20
    shortcut: str = "A"
    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch {self.arch!r} is unknown: choose one of {', '.join(ARCHS)}")
        blocks_per_stage(self.depth)
        if self.shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {self.shortcut!r}: choose one of {', '.join(SHORTCUTS)}")
        for name in ("num_classes", "in_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} {value!r} must be a positive whole number")

    @classmethod
    def from_dict(cls, values) -> "NetConfig":
        """From a checkpoint's record; a ValueError for anything but the fields above."""
        if not isinstance(values, dict):
            raise ValueError(f"the net's description is a {type(values).__name__}, not a mapping")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"the net's description has unknown fields: {', '.join(map(str, unknown))}")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def residual(self) -> bool:
        return self.arch == "resnet"

    def describe(self) -> str:
        """`resnet-56`, `plain-20`, `resnet-20 (shortcut B)`."""
        option = f" (shortcut {self.shortcut})" if self.residual and self.shortcut != "A" else ""
        return f"{self.arch}-{self.depth}{option}"


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def projection(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class ZeroPadShortcut(nn.Module):
    """Option A: identity on the first channels, zeros for the new ones, stride-2 subsampling."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.extra_channels = out_planes - in_planes
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


def make_shortcut(option: str, in_planes: int, out_planes: int, stride: int) -> nn.Module:
    changes_shape = stride != 1 or in_planes != out_planes
    if option == "C" or (option == "B" and changes_shape):
        return projection(in_planes, out_planes, stride)
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


class CifarNet(nn.Module):
    """The 6n+2-layer CIFAR net of section 4.2 that `config` describes."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        n = blocks_per_stage(config.depth)
        self.depth, self.residual, self.shortcut_option = config.depth, config.residual, config.shortcut
        self.conv1 = conv3x3(config.in_channels, STAGE_WIDTHS[0])
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        self.in_planes = STAGE_WIDTHS[0]
        self.stage1 = self._make_stage(STAGE_WIDTHS[0], n, stride=1)
        self.stage2 = self._make_stage(STAGE_WIDTHS[1], n, stride=2)
        self.stage3 = self._make_stage(STAGE_WIDTHS[2], n, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(STAGE_WIDTHS[2], config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")  # He et al. 2015b

    def _make_stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            block_stride = stride if i == 0 else 1
            shortcut = (
                make_shortcut(self.shortcut_option, self.in_planes, planes, block_stride) if self.residual else None
            )
            layers.append(BasicBlock(self.in_planes, planes, block_stride, shortcut))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def build_net(config: NetConfig) -> CifarNet:
    """The net a NetConfig describes."""
    return CifarNet(config)


def build_cifar_net(
    depth: int, residual: bool, shortcut: str = "A", num_classes: int = 10, in_channels: int = 3
) -> CifarNet:
    """The paper's 6n+2-layer CIFAR net; residual=False gives its plain counterpart."""
    return build_net(NetConfig("resnet" if residual else "plain", depth, shortcut, num_classes, in_channels))


def response_layers(model: nn.Module) -> list[tuple[str, nn.BatchNorm2d]]:
    """The BN after every 3x3 conv, in forward order: its output (before ReLU and before the
    addition) is the "layer response" of the paper's Figure 7. Shortcut projections' BNs are not
    3x3 layers and are left out."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.BatchNorm2d) and ".shortcut" not in name
    ]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_macs(model: nn.Module, in_channels: int = 3, size: int = 32) -> int:
    """Multiply-adds of one forward pass on one image, counted by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, in_channels, size, size))
    model.train(was_training)
    return counter.get_total_flops() // 2  # one multiply-add is two FLOPs


def main() -> None:
    print(f"{'depth':>6} {'params':>12} {'paper':>12} {'MACs plain':>12} {'MACs resnet':>12} {'public':>8}  check")
    all_ok = True
    for depth in paper.DEPTHS:
        plain, resnet = build_cifar_net(depth, residual=False), build_cifar_net(depth, residual=True)
        params, macs = count_parameters(resnet), forward_macs(resnet)
        ok = params == count_parameters(plain) == paper.PARAMS[depth]
        public = paper.MACS.get(depth)
        ok &= public is None or abs(macs / public - 1) < 0.05  # the public counts are rounded: a 5% band
        all_ok &= ok
        print(
            f"{depth:>6} {params:>12,} {paper.PARAMS[depth]:>12,} {forward_macs(plain) / 1e6:>11.1f}M "
            f"{macs / 1e6:>11.1f}M {f'{public / 1e6:.0f}M' if public else '—':>8}  {'ok' if ok else 'MISMATCH'}"
        )
    for option in ("B", "C"):
        print(f"ResNet-20 option {option}: {count_parameters(build_cifar_net(20, True, option)):,} parameters")
    if not all_ok:
        raise SystemExit("parameter or multiply-add counts disagree with study/paper.py")


if __name__ == "__main__":
    main()
