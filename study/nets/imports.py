"""Published CIFAR ResNet checkpoints, brought into this project's nets.

Names alone are not enough. Shortcut option A pads the identity with zero channels where a stage
widens, and the paper does not say where the zeros go: this project keeps the identity in the
first channels and pads after it; akamaster/pytorch_resnet_cifar10 pads planes // 4 zero channels
on both sides, so its identity sits in the middle (channels 8-23 of 32, 16-47 of 64). Its weights
have our names and shapes once renamed, and load strictly, yet err on most test images. So each
importer maps the names and permutes the residual stream's channels of every stage that a padded
shortcut widened: each block's conv2 rows and bn2 entries (they write the stream), the conv1 input
columns of every block that reads it, and the classifier's columns.

    IMPORTERS["akamaster"](checkpoint) -> PreprocessedNet   (the depth read from the checkpoint)
"""

import hashlib
import re
from pathlib import Path

import torch

from study.fileio import load_tensors, open_regular
from study.nets.config import STAGE_WIDTHS, NetConfig
from study.nets.export import PreprocessedNet

__all__ = ["CheckpointImportError", "IMPORTERS", "middle_padding_permutations", "import_akamaster", "read_checkpoint"]

#: akamaster trains and tests on images normalised per channel with ImageNet's statistics.
AKAMASTER_MEAN = (0.485, 0.456, 0.406)
AKAMASTER_STD = (0.229, 0.224, 0.225)


class CheckpointImportError(ValueError):
    """A published checkpoint that cannot be brought into our nets; the message says why."""


def middle_padding_permutations(widths=STAGE_WIDTHS) -> list[list[int]]:
    """For each stage, our stream channel j -> the channel of a net whose option-A shortcuts pad
    (out - in) // 2 zero channels before the identity and as many after it. The identity of our
    channel j of the previous stage sits at the other net's `pad + (its channel of j)`; our zero
    channels take the other net's zero channels in order."""
    perms = [list(range(widths[0]))]
    for width_in, width_out in zip(widths, widths[1:]):
        pad = (width_out - width_in) // 2
        identity = [pad + c for c in perms[-1]]
        zeros = [c for c in range(width_out) if not pad <= c < pad + width_in]
        perms.append(identity + zeros)
    return perms


def read_checkpoint(path: Path) -> tuple[dict, str]:
    """(its state_dict, its sha256) from a published checkpoint: read as tensors and plain values
    only, never as code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointImportError(f"{path} is not a file")
    try:
        loaded = load_tensors(path)
        with open_regular(path) as f:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    except Exception as err:
        raise CheckpointImportError(
            f"{path} cannot be read as tensors and plain values ({type(err).__name__})"
        ) from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointImportError(f"{path} holds no state_dict of tensors")
    return state, sha256


def _stage_of_stream(name: str) -> tuple[str, int] | None:
    """('writes' | 'reads', stage index 0-2) for a tensor that touches the residual stream."""
    parts = name.split(".")
    if parts[0].startswith("stage"):
        stage, block = int(parts[0][5:]) - 1, int(parts[1])
        if parts[2] in ("conv2", "bn2"):
            return "writes", stage
        if parts[2] == "conv1":
            return (
                "reads",
                stage - 1 if block == 0 and stage > 0 else stage,
            )  # a stage's first block reads the one before
    if parts[0] == "fc" and parts[1] == "weight":
        return "reads", 2
    return None


def import_akamaster(path: Path) -> PreprocessedNet:
    """akamaster's ResNet (20, 32, 44, 56, 110 or 1202 layers: option A, the original unit), as our
    net with its per-channel normalisation, in eval mode; the depth is read from its blocks."""
    from study.nets import build_net

    state, digest = read_checkpoint(path)
    n = len({k.split(".")[1] for k in (key.removeprefix("module.") for key in state) if k.startswith("layer1.")})
    depth = 6 * n + 2
    if n == 0:
        raise CheckpointImportError(f"{path} has no layer1 blocks: it is not an akamaster CIFAR ResNet")
    config = NetConfig("resnet", depth, "A")
    perms = [torch.tensor(p) for p in middle_padding_permutations()]
    renamed = {}
    for key, value in state.items():
        name = re.sub(r"^layer(\d)\.", r"stage\1.", re.sub(r"^linear\.", "fc.", key.removeprefix("module.")))
        role = _stage_of_stream(name)
        if role is None or value.dim() == 0:
            renamed[name] = value
        elif role[0] == "writes":
            renamed[name] = value[perms[role[1]]]
        else:
            renamed[name] = value[:, perms[role[1]]]
    net = build_net(config)
    ours = net.state_dict()
    for name, value in ours.items():  # saved before BN counted its batches: the count is not used in eval
        if name.endswith("num_batches_tracked") and name not in renamed:
            renamed[name] = torch.zeros_like(value)
    try:
        net.load_state_dict(renamed)
    except RuntimeError as err:
        raise CheckpointImportError(
            f"{path} is not akamaster's ResNet-{depth} (option A): {str(err).splitlines()[0]}"
        ) from None
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in (AKAMASTER_MEAN, AKAMASTER_STD))
    imported = PreprocessedNet(net, mean, std)
    imported.source = {"imported": "akamaster", "file": Path(path).name, "sha256": digest}
    return imported.eval()


#: Importers by the name `study.evaluate --import NAME` takes.
IMPORTERS = {"akamaster": import_akamaster}
