"""torch.hub entry points: the study's nets, built by study.nets.

    net = torch.hub.load("<owner>/<repo>", "resnet56")                 # from GitHub
    net = torch.hub.load("path/to/checkout", "plain20", source="local")
    net = torch.hub.load(..., "preact_resnet164", num_classes=100)     # CIFAR-100
    net = torch.hub.load(..., "resnet56", norm="none", init="fixup")   # Fixup, no BN

Every entry takes `num_classes` (10), `in_channels` (3), `norm` ("batch", or "none": no
normalisation, convs with biases) and `init` ("he"; for residual nets also "zero_gamma", "fixup" with
norm="none", "skipinit" with norm="none"; docs/nets.md): `resnetD` and `plainD` for the paper's
nets (D = 20, 32, 44, 56, 110, 1202; option-A shortcuts), `resnetD` and `preact_resnetD` for He et
al. 2016's bottleneck nets (D = 164, 1001; option B), and `preact_resnet110`. From a checkout,
`torch.hub.load(path, name, source="local")` builds one and `help(hubconf)` (or this docstring)
lists them; `torch.hub.list` and `torch.hub.help` take only a GitHub `owner/repo`.

`pretrained=True` loads weights the project trained itself, and only where a committed
full-length run made them (WEIGHTS); every other entry refuses it rather than claim any. A
pretrained net carries the preprocessing it was trained with (study.nets.export): feed it
CIFAR-10 images as they are, float in [0, 1] or uint8, NCHW, and it subtracts the training
images' per-pixel mean itself. Without pretrained=True an entry returns the bare net.
"""

import json as _json
import pathlib as _pathlib

from study import nets as _nets
from study import paper as _paper

dependencies = ["torch"]

_CHECKOUT = _pathlib.Path(__file__).parent

#: Entry name -> (its exported state_dict, the finished run folder that trained it), both in this
#: checkout. The test error quoted is the run's own (its summary.json), so the two cannot disagree.
#: The project's full-length runs of the paper's recipe (docs/studies.md: "The recipe at full length").
WEIGHTS: dict[str, tuple[str, str]] = {
    "resnet20": (
        "results/cifar10-recipe-full/resnet20.pt",
        "results/cifar10-recipe-full/runs/cifar10/resnet20/seed0-0372c2b1f8",
    ),
    "plain20": (
        "results/cifar10-recipe-full/plain20.pt",
        "results/cifar10-recipe-full/runs/cifar10/plain20/seed0-35fe061e9c",
    ),
}


def _test_error(run: str) -> float:
    """The final test error (%) that the run recorded when it finished. Read with json, not
    study.runs.summary, which would add omegaconf and numpy to torch.hub's `dependencies`."""
    summary = _json.loads((_CHECKOUT / run / "summary.json").read_text())
    error = summary.get("final_test_error")
    if summary.get("status") != "completed" or isinstance(error, bool) or not isinstance(error, (int, float)):
        raise ValueError(f"{run}: not a finished run with a test error, so its weights cannot be offered")
    return float(error)


def _entry(name: str, arch: str, depth: int, shortcut: str, unit: str = "original", block: str = "basic"):
    def entry(
        pretrained: bool = False, num_classes: int = 10, in_channels: int = 3, norm: str = "batch", init: str = "he"
    ):
        built = _nets.NetConfig(
            arch, depth, shortcut, num_classes, in_channels, unit=unit, block=block, norm=norm, init=init
        )
        net = _nets.build_net(built)
        if pretrained:
            if (norm, init) != ("batch", "he"):
                raise ValueError(
                    f"{name}: trained weights are offered only for the paper's BN nets with He init; "
                    f"norm={norm!r}, init={init!r} has none: load it with pretrained=False"
                )
            if name not in WEIGHTS:
                raise ValueError(
                    f"{name}: the project has no trained weights for this net (it has them for: "
                    f"{', '.join(WEIGHTS) or 'none yet'}); train it with `python -m study.train`, or load it "
                    "with pretrained=False"
                )
            if (num_classes, in_channels) != (10, 3):
                raise ValueError(f"{name}: the trained weights are for CIFAR-10 (10 classes, 3 channels)")
            from study.nets.export import load_export

            file, _ = WEIGHTS[name]
            net = load_export(_CHECKOUT / file)
            if net.config != config:
                raise ValueError(f"{name}: {file} holds a {net.config.describe()}, not a {config.describe()}")
        return net

    config = _nets.NetConfig(arch, depth, shortcut, unit=unit, block=block)
    _, run = WEIGHTS.get(name, (None, None))
    entry.__name__ = name
    year = 2015 if (unit, block) == ("original", "basic") else 2016
    entry.__doc__ = (
        f"{config.describe()} for 32x32 images (He et al. {year}); norm= and init= build it without BN or with "
        "branches that start at zero (see the module's docstring). "
    ) + (
        f"pretrained=True: the project's own weights, {_test_error(run):.2f}% CIFAR-10 test error ({run}); "
        "the net takes CIFAR-10 images as they are, NCHW, float in [0, 1] or uint8, and subtracts the "
        "training images' per-pixel mean itself."
        if run
        else "No trained weights: pretrained=True is refused."
    )
    return entry


for _depth in _paper.DEPTHS:
    for _arch in ("resnet", "plain"):
        globals()[f"{_arch}{_depth}"] = _entry(f"{_arch}{_depth}", _arch, _depth, "A")
for _depth in _paper.BOTTLENECK_DEPTHS:
    globals()[f"resnet{_depth}"] = _entry(f"resnet{_depth}", "resnet", _depth, "B", block="bottleneck")
    globals()[f"preact_resnet{_depth}"] = _entry(
        f"preact_resnet{_depth}", "resnet", _depth, "B", unit="preact", block="bottleneck"
    )
preact_resnet110 = _entry("preact_resnet110", "resnet", 110, "A", unit="preact")
