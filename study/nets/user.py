"""A net of the user's: `builder="module:function"` names a function
build(depth, residual, num_classes, in_channels) -> nn.Module, imported and checked here, its net
wrapped in a UserNet that carries the NetConfig as the paper's nets do."""

import importlib
import inspect

import torch
from torch import nn

from study.nets.config import BUILDER_PATTERN, BUILDER_SIGNATURE, NetConfig


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
