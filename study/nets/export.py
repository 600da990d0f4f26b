"""A trained net as one file that anyone can use: its weights, what builds it, and the input
preprocessing it was trained with, so that it takes ordinary images and gives the error its run
measured. `study.evaluate --export` writes it, `load_export` reads it (torch.hub's pretrained
entries too):

    net = load_export("resnet20.pt")           # a PreprocessedNet, in eval mode
    logits = net(images)                       # images: NCHW, float in [0, 1] or uint8 in 0-255

The file is a dict that `torch.load(..., weights_only=True)` reads:

    format          FORMAT, so a state_dict of other origin is never taken for one of ours
    net             NetConfig.as_dict(): what builds the net
    channel_layout  CHANNEL_LAYOUT: where option A's shortcut keeps the identity among the zero
                    channels it pads with; a net trained with them elsewhere has the same names and
                    shapes and errs on most images here, so it is refused, never loaded by name
    input           {"mean": tensor, "std": tensor}: what is subtracted from [0, 1] images, and what
                    they are then divided by (the paper: the training images' per-pixel mean, std 1)
    state_dict      the net's weights
    source          where the weights came from (a run folder, or a published checkpoint)

Preprocessing inside the net (rather than a transform shipped beside it) means a user cannot feed
the weights the wrong normalisation: the usual per-channel CIFAR normalisation costs a net trained
on the per-pixel mean about 50 points of test error.
"""

from pathlib import Path

import torch
from torch import nn

from study.fileio import UnsafeFile, load_tensors
from study.nets.config import NetConfig

__all__ = ["FORMAT", "CHANNEL_LAYOUT", "ExportError", "PreprocessedNet", "save_export", "load_export"]

FORMAT = "study.export/1"
CHANNEL_LAYOUT = "option A: identity in the first channels, zeros after"

#: What to run instead when a file is a state_dict of another origin.
IMPORTERS = "a published checkpoint goes through its importer: python -m study.evaluate --import akamaster FILE"


class ExportError(ValueError):
    """A file that is not a net exported by this project; the message says what it is and what to do."""


class PreprocessedNet(nn.Module):
    """`net` behind the preprocessing it was trained with: images in [0, 1] (or uint8, scaled to
    [0, 1]), less `mean`, divided by `std`, both broadcast over a batch (a per-pixel mean image of
    shape (C, H, W), or per-channel values of shape (C, 1, 1))."""

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor | None = None):
        super().__init__()
        self.net = net
        self.config = net.config
        self.source: dict = {}  # where the weights came from, as the export records it
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("std", torch.ones(()) if std is None else std.float().clone())

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """What the net itself sees of `images`."""
        if images.dtype == torch.uint8:
            images = images.float().div(255)
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(images))


def save_export(net: PreprocessedNet, path: Path, source: dict) -> None:
    """Write `net` as an export (the module docstring's format)."""
    torch.save(
        {
            "format": FORMAT,
            "net": net.config.as_dict(),
            "channel_layout": CHANNEL_LAYOUT,
            "input": {"mean": net.mean, "std": net.std},
            "state_dict": net.net.state_dict(),
            "source": source,
        },
        path,
    )


def read_export(path: Path) -> dict:
    """The export's record, checked: an ExportError for anything that is not one of ours."""
    path = Path(path)
    try:
        loaded = load_tensors(path)
    except OSError as err:
        raise ExportError(f"{path}: {err.strerror or err}") from None
    except UnsafeFile as err:
        raise ExportError(str(err)) from None
    except Exception as err:  # a pickle that needs code, a damaged zip: never loaded another way
        raise ExportError(f"{path} cannot be read as tensors and plain values ({type(err).__name__})") from None
    if not isinstance(loaded, dict) or loaded.get("format") != FORMAT:
        raise ExportError(
            f"{path} is not a net exported by this project (no {FORMAT!r} mark): a state_dict of another origin is "
            f"never loaded by its names alone, since a net of the same shapes may lay its channels out differently; "
            f"{IMPORTERS}"
        )
    if loaded.get("channel_layout") != CHANNEL_LAYOUT:
        raise ExportError(f"{path} lays out its shortcut channels as {loaded.get('channel_layout')!r}, not as ours")
    inputs = loaded.get("input")
    if not isinstance(inputs, dict) or not all(isinstance(inputs.get(k), torch.Tensor) for k in ("mean", "std")):
        raise ExportError(f"{path} does not say what preprocessing its net expects (input.mean, input.std)")
    if not isinstance(loaded.get("state_dict"), dict):
        raise ExportError(f"{path} holds no state_dict")
    return loaded


def load_export(path: Path, builder: str | None = None) -> PreprocessedNet:
    """The net an export holds, with its preprocessing, in eval mode. A net of a user's builder is
    rebuilt only when the caller names the same builder: code is never imported on a file's word."""
    from study.nets import build_net

    loaded = read_export(path)
    try:
        config = NetConfig.from_dict(loaded["net"])
    except (TypeError, ValueError) as err:
        raise ExportError(f"{path}: the net it records cannot be built ({err})") from None
    if config.builder and config.builder != builder:
        raise ExportError(
            f"{path} holds a net of the builder {config.builder}: code is never imported on a file's word; "
            f"if you trust it, name the builder ({config.builder})"
        )
    for key, value in loaded["input"].items():
        if value.dim() not in (0, 3) or (value.dim() == 3 and value.shape[0] != config.in_channels):
            raise ExportError(
                f"{path}: input.{key} has shape {tuple(value.shape)}, not a value per channel or pixel of "
                f"{config.in_channels}-channel images"
            )
    net = PreprocessedNet(build_net(config), loaded["input"]["mean"], loaded["input"]["std"])
    source = loaded.get("source")
    if isinstance(source, dict):
        net.source = {
            str(k): v for k, v in source.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
        }
    try:
        net.net.load_state_dict(loaded["state_dict"])
    except RuntimeError as err:
        raise ExportError(f"{path} does not fit a {config.describe()}: {str(err).splitlines()[0]}") from None
    return net.eval()
