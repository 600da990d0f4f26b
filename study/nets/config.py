"""What builds a net: the choices (arch, shortcut option, unit, block), the depth rule, and
NetConfig, which checkpoints carry so a net can be rebuilt from one alone."""

import re
from dataclasses import asdict, dataclass, fields

from study import paper

ARCHS = ("plain", "resnet")
SHORTCUTS = ("A", "B", "C")
UNITS = ("original", "preact")
BLOCKS = ("basic", "bottleneck")
NORMS = ("batch", "none")
#: he: He et al. 2015b (the paper's); zero_gamma: each residual branch's last BN scale at 0 (Goyal
#: et al. 2017); fixup: Zhang, Dauphin & Ma 2019; skipinit: a scalar at 0 ending each branch (De &
#: Smith 2020).
INITS = ("he", "zero_gamma", "fixup", "skipinit")
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
            f"depth={depth!r} is not {what}: it must be {per}n+2 with n >= 1 ({used}); "
            f"nearest valid: {' or '.join(map(str, nearest))}"
        )
    return (depth - 2) // per


@dataclass
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
    norm: str = "batch"  # batch: BN after each conv (the paper's); none: no normalisation, convs keep their bias
    init: str = "he"  # INITS

    def __post_init__(self):
        for name, allowed in (
            ("arch", ARCHS),
            ("shortcut", SHORTCUTS),
            ("unit", UNITS),
            ("block", BLOCKS),
            ("norm", NORMS),
            ("init", INITS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is unknown: choose one of {', '.join(allowed)}")
        self._check_init()
        if self.builder is None:
            blocks_per_stage(self.depth, self.block)
        else:
            self._check_user_net()
        for name in ("num_classes", "in_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive whole number")

    @classmethod
    def from_dict(cls, values) -> "NetConfig":
        """From a checkpoint's record; a ValueError for anything but the fields above."""
        if not isinstance(values, dict):
            raise ValueError(f"the net's description is a {type(values).__name__}, not a mapping")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"the net's description has unknown fields: {', '.join(map(str, unknown))}")
        return cls(**values)

    def _check_init(self) -> None:
        """Refuse an init that means nothing for this net, naming the combination."""
        if self.init != "he" and self.arch != "resnet":
            raise ValueError(
                f"init={self.init!r} acts on residual branches, and a {self.arch} net has none: use init=he, "
                "or arch=resnet"
            )
        if self.init == "zero_gamma" and self.norm != "batch":
            raise ValueError("init='zero_gamma' sets BN scales, and norm='none' has none: use norm=batch")
        if self.init == "fixup" and self.norm != "none":
            raise ValueError(
                "init='fixup' replaces normalisation (Zhang et al. 2019), so it goes with norm=none, not "
                f"norm={self.norm!r}"
            )
        if self.init == "fixup" and self.unit != "original":
            raise ValueError(
                "init='fixup' is published for the original unit (conv, then the addition, then ReLU), not "
                f"unit={self.unit!r}"
            )

    def _check_user_net(self) -> None:
        if not isinstance(self.builder, str) or not BUILDER_PATTERN.fullmatch(self.builder):
            raise ValueError(f"builder={self.builder!r} is not a 'package.module:function' name")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"depth={self.depth!r} must be a positive whole number")
        for name, default in paper.PAPER_CHOICES.items():
            if getattr(self, name) != default:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} applies to the paper's nets only; a net of the builder "
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
            norm=model.get("norm", "batch"),
            init=model.get("init", "he"),
        )

    def as_dict(self) -> dict:
        """The fields, without those that came later at their defaults (a builder, a norm, an init):
        the checkpoints and exports of the paper's nets stay as they were."""
        values = asdict(self)
        for key, default in (("builder", None), ("norm", "batch"), ("init", "he")):
            if values[key] == default:
                del values[key]
        return values

    @property
    def residual(self) -> bool:
        return self.arch == "resnet"

    def describe(self) -> str:
        """`ResNet-56`, `plain-20`, `ResNet-20 (shortcut B)`, `ResNet-164 (preact, bottleneck)`,
        `ResNet-56 (nonorm, fixup)`, `ResNet-8 (builder mynets:build)`."""
        name = paper.net_name(self.arch, self.depth)
        if self.builder:
            return f"{name} (builder {self.builder})"
        departures = paper.departures(self.arch, self.shortcut, self.unit, self.block, self.norm, self.init)
        notes = [f"shortcut {v}" if k == "shortcut" else v for k, v in departures.items()]
        return name + (f" ({', '.join(notes)})" if notes else "")
