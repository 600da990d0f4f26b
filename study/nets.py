"""The CIFAR nets of He et al. (2015), section 4.2: plain and residual 6n+2-layer stacks, and the
units of its follow-up (He et al. 2016, "Identity Mappings in Deep Residual Networks").

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

Two more choices, each with the paper's as the default (`NetConfig`):

    unit   original  conv-BN-ReLU twice, the addition, then ReLU (He et al. 2015)
           preact    BN-ReLU-conv twice, then the addition, nothing after it; one BN-ReLU after
                     the last stage (He et al. 2016); projections act on the pre-activated input
    block  basic       two 3x3 convs; depth 6n+2
           bottleneck  1x1, 3x3, 1x1 convs, the output four times wider (64, 128, 256); depth 9n+2
                       (He et al. 2016: 164 and 1001; 1.7M and 10.2M parameters with projections
                       where the shape changes, option B)

A plain twin has the same layers as its residual net, without the addition. Every shortcut
option applies to every unit and block (A zero-pads the stem's 16 channels to a bottleneck's 64).
In pre-activation order a plain twin is the original plain net: with no addition, moving each
BN-ReLU before its conv leaves the same sequence (the stem's BN-ReLU becomes the first block's,
the last block's the final one), and the same seed builds the same weights.

Any net of the user's (`builder="module:function"`): `function(depth, residual, num_classes,
in_channels)` returns an `nn.Module`, residual=False asking for its plain twin. It is wrapped in
a `UserNet`, which carries the NetConfig like the paper's nets. Figure 7 and the diagnostics
measure its 3x3 layers' responses: the net may say which they are with a method
`response_layers()` returning (name, module whose output is the response, its 3x3 conv) triples;
without one, every BatchNorm2d right after a 3x3 Conv2d (outside modules named "shortcut") counts,
as in the paper's nets; a net with neither has no responses, and the report says so.

`python -m study.nets` (`make models`) recounts these tables and checks them against `study.paper`.
"""

import importlib
import inspect
import re
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
    "UserNet",
    "build_net",
    "load_builder",
    "build_cifar_net",
    "blocks_per_stage",
    "response_layers",
    "count_parameters",
    "forward_macs",
]

ARCHS = ("plain", "resnet")
SHORTCUTS = ("A", "B", "C")
UNITS = ("original", "preact")
BLOCKS = ("basic", "bottleneck")
#: `package.module:function`, as model.builder names a user's net.
BUILDER_PATTERN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
BUILDER_SIGNATURE = "build(depth: int, residual: bool, num_classes: int, in_channels: int) -> nn.Module"
STAGE_WIDTHS = (16, 32, 64)
#: 3x3-or-1x1 conv layers per block, and how much wider a block's output is than its inner width.
LAYERS_PER_BLOCK = {"basic": 2, "bottleneck": 3}
EXPANSION = {"basic": 1, "bottleneck": 4}


def blocks_per_stage(depth: int, block: str = "basic") -> int:
    """n for a (3 x layers per block)n+2-layer net: 6n+2 with basic blocks, 9n+2 with bottlenecks;
    a ValueError naming the nearest valid depths for any other depth."""
    per = 3 * LAYERS_PER_BLOCK[block]
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < per + 2 or (depth - 2) % per:
        lower = per * ((int(depth) - 2) // per) + 2 if isinstance(depth, (int, float)) else per + 2
        nearest = sorted({max(per + 2, lower), max(per + 2, lower + per)})
        used = (
            f"the paper uses {', '.join(map(str, paper.DEPTHS))}"
            if block == "basic"
            else f"He et al. 2016 use {', '.join(map(str, paper.BOTTLENECK_DEPTHS))}"
        )
        what = "a CIFAR net depth" if block == "basic" else "a CIFAR depth for bottleneck blocks"
        raise ValueError(
            f"depth {depth!r} is not {what}: it must be {per}n+2 with n >= 1 ({used}); "
            f"nearest valid: {' or '.join(map(str, nearest))}"
        )
    return (depth - 2) // per


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
    unit: str = "original"
    block: str = "basic"
    builder: str | None = None  # "module:function": a net of the user's instead of the paper's

    def __post_init__(self):
        for name, allowed in (("arch", ARCHS), ("shortcut", SHORTCUTS), ("unit", UNITS), ("block", BLOCKS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} {getattr(self, name)!r} is unknown: choose one of {', '.join(allowed)}")
        if self.builder is None:
            blocks_per_stage(self.depth, self.block)
        else:
            self._check_user_net()
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

    def _check_user_net(self) -> None:
        if not isinstance(self.builder, str) or not BUILDER_PATTERN.fullmatch(self.builder):
            raise ValueError(f"builder {self.builder!r} is not a 'package.module:function' name")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"depth {self.depth!r} must be a positive whole number")
        for name, default in paper.PAPER_CHOICES.items():
            if getattr(self, name) != default:
                raise ValueError(
                    f"{name} {getattr(self, name)!r} applies to the paper's nets only; a net of the builder "
                    f"{self.builder} makes its own choices: leave {name} at {default}"
                )

    @classmethod
    def of_model(cls, model, num_classes: int = 10, in_channels: int = 3) -> "NetConfig":
        """From a config's model node (a mapping: arch, depth, shortcut, and unit, block and builder
        where set), for a dataset of these classes and channels."""
        return cls(
            model["arch"],
            model["depth"],
            model["shortcut"],
            num_classes,
            in_channels,
            unit=model.get("unit", "original"),
            block=model.get("block", "basic"),
            builder=model.get("builder"),
        )

    def as_dict(self) -> dict:
        """The fields, without a builder a paper net has none of (its checkpoints stay as they were)."""
        values = asdict(self)
        if values["builder"] is None:
            del values["builder"]
        return values

    @property
    def residual(self) -> bool:
        return self.arch == "resnet"

    def describe(self) -> str:
        """`ResNet-56`, `plain-20`, `ResNet-20 (shortcut B)`, `ResNet-164 (preact, bottleneck)`,
        `ResNet-8 (builder mynets:build)`."""
        name = paper.net_name(self.arch, self.depth)
        if self.builder:
            return f"{name} (builder {self.builder})"
        departures = paper.departures(self.arch, self.shortcut, self.unit, self.block)
        notes = [f"shortcut {v}" if k == "shortcut" else v for k, v in departures.items()]
        return name + (f" ({', '.join(notes)})" if notes else "")


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


class CifarNet(nn.Module):
    """The CIFAR net that `config` describes: a stem, three stages of n blocks, pooling, one
    linear layer."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        n = blocks_per_stage(config.depth, config.block)
        self.depth, self.residual, self.shortcut_option = config.depth, config.residual, config.shortcut
        self.block_type = BLOCK_TYPES[(config.unit, config.block)]
        self.expansion = EXPANSION[config.block]
        self.conv1 = conv3x3(config.in_channels, STAGE_WIDTHS[0])
        if config.unit == "original":  # the pre-activation stem hands its conv output to the first block's BN
            self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        self.in_planes = STAGE_WIDTHS[0]
        self.stage1 = self._make_stage(STAGE_WIDTHS[0], n, stride=1)
        self.stage2 = self._make_stage(STAGE_WIDTHS[1], n, stride=2)
        self.stage3 = self._make_stage(STAGE_WIDTHS[2], n, stride=2)
        if config.unit == "preact":  # the last block's output is not activated: one BN-ReLU before pooling
            self.bn_final = nn.BatchNorm2d(self.in_planes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.in_planes, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")  # He et al. 2015b

    def _make_stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            block_stride = stride if i == 0 else 1
            out_planes = planes * self.expansion
            shortcut = (
                make_shortcut(self.shortcut_option, self.in_planes, out_planes, block_stride, self.config.unit)
                if self.residual
                else None
            )
            layers.append(self.block_type(self.in_planes, planes, block_stride, shortcut))
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


class UserNet(nn.Module):
    """A net of the user's builder, carrying its NetConfig as the paper's nets do."""

    def __init__(self, config: NetConfig, net: nn.Module):
        super().__init__()
        self.config = config
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def load_builder(name: str):
    """The function `module:function` names, imported and checked against BUILDER_SIGNATURE; a
    ValueError naming the builder and what is wrong with it."""
    if not isinstance(name, str) or not BUILDER_PATTERN.fullmatch(name):
        raise ValueError(f"builder {name!r} is not a 'package.module:function' name, e.g. mynets.blocks:build")
    module_name, function = name.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise ValueError(
            f"builder {name}: the module {module_name} cannot be imported ({type(err).__name__}: {err}); "
            "install its package, or put the folder that holds it on PYTHONPATH"
        ) from None
    build = getattr(module, function, None)
    if not callable(build):
        raise ValueError(f"builder {name}: {module_name} has no function {function}")
    try:
        inspect.signature(build).bind(depth=1, residual=True, num_classes=10, in_channels=3)
    except TypeError as err:
        raise ValueError(
            f"builder {name}: {function}{inspect.signature(build)} cannot be called as {BUILDER_SIGNATURE} ({err})"
        ) from None
    except ValueError:  # a builtin without a signature: calling it will tell
        pass
    return build


def build_user_net(config: NetConfig) -> UserNet:
    build = load_builder(config.builder)
    net = build(
        depth=config.depth, residual=config.residual, num_classes=config.num_classes, in_channels=config.in_channels
    )
    if not isinstance(net, nn.Module):
        raise ValueError(
            f"builder {config.builder} returned a {type(net).__name__}, not a torch.nn.Module: it must return "
            "the net itself"
        )
    return UserNet(config, net)


def build_net(config: NetConfig) -> nn.Module:
    """The net a NetConfig describes: the paper's (CifarNet) or the user's builder's (UserNet)."""
    return build_user_net(config) if config.builder else CifarNet(config)


def build_cifar_net(
    depth: int, residual: bool, shortcut: str = "A", num_classes: int = 10, in_channels: int = 3
) -> CifarNet:
    """The paper's 6n+2-layer CIFAR net; residual=False gives its plain counterpart."""
    return build_net(NetConfig("resnet" if residual else "plain", depth, shortcut, num_classes, in_channels))


def response_layers(model: nn.Module) -> list[tuple[str, nn.Module, nn.Conv2d]]:
    """(name, module whose output is the response, its 3x3 conv) for every 3x3 layer, in forward
    order: the "layer responses" of the paper's Figure 7. In the original unit the response is the
    BN output after the conv (before ReLU and before the addition); in the pre-activation unit,
    whose convs are followed by no BN, the conv output itself. Shortcut projections and 1x1 convs
    are not 3x3 layers and are left out. A user's net may name its own (its `response_layers()`)."""
    if isinstance(model, UserNet):
        declared = getattr(model.net, "response_layers", None)
        if callable(declared):
            layers = [tuple(layer) for layer in declared()]
            for layer in layers:
                if len(layer) != 3 or not isinstance(layer[1], nn.Module) or not isinstance(layer[2], nn.Conv2d):
                    raise ValueError(
                        f"builder {model.config.builder}: response_layers() must give (name, module, conv) triples, "
                        f"the conv an nn.Conv2d; one is {layer!r:.80}"
                    )
            return [(str(name), module, conv) for name, module, conv in layers]
        model = model.net
    preact = getattr(getattr(model, "config", None), "unit", "original") == "preact"
    layers, last_conv = [], None
    for name, module in model.named_modules():
        if ".shortcut" in name or name.startswith("shortcut"):
            continue
        if isinstance(module, nn.Conv2d):
            last_conv = module
            if preact and module.kernel_size == (3, 3):
                layers.append((name, module, module))
        elif isinstance(module, nn.BatchNorm2d) and not preact and last_conv is not None:
            if last_conv.kernel_size == (3, 3):
                layers.append((name, module, last_conv))
            last_conv = None
    return layers


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


#: The published bottleneck counts are rounded to 0.1M, and they seem to leave BN's parameters
#: out (ResNet-1001: 10,327,706 with them, 10.18M without, published 10.2M): a 2% band.
BOTTLENECK_PARAMS_BAND = 0.02


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
    print(
        f"\nHe et al. 2016, bottleneck blocks, option B\n{'depth':>6} {'unit':>9} {'params':>12} {'published':>10} "
        f"{'MACs':>9}  check"
    )
    for depth in paper.BOTTLENECK_DEPTHS:
        for unit in UNITS:
            net = build_net(NetConfig("resnet", depth, "B", unit=unit, block="bottleneck"))
            params, published = count_parameters(net), paper.BOTTLENECK_PARAMS_M[depth]
            ok = abs(params / (published * 1e6) - 1) < BOTTLENECK_PARAMS_BAND
            all_ok &= ok
            print(
                f"{depth:>6} {unit:>9} {params:>12,} {published:>9.1f}M {forward_macs(net) / 1e6:>8.0f}M  "
                f"{'ok' if ok else 'MISMATCH'}"
            )
    if not all_ok:
        raise SystemExit("parameter or multiply-add counts disagree with study/paper.py")


if __name__ == "__main__":
    main()
