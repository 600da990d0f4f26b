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


def torch_state() -> dict:
    """What of torch's process-wide state a builder could change, and every later run relies on."""
    return {
        "default dtype": torch.get_default_dtype(),
        "gradients enabled": torch.is_grad_enabled(),
        "deterministic algorithms": (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
        ),
        "float32 matmul precision": torch.get_float32_matmul_precision(),
        "threads": torch.get_num_threads(),
    }


def set_torch_state(state: dict) -> None:
    torch.set_default_dtype(state["default dtype"])
    torch.set_grad_enabled(state["gradients enabled"])
    deterministic, warn_only = state["deterministic algorithms"]
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.set_float32_matmul_precision(state["float32 matmul precision"])
    torch.set_num_threads(state["threads"])


def build_user_net(config: NetConfig) -> UserNet:
    """The builder's net, refused (ValueError) if it is no nn.Module, if its parameters are not
    float32 (the run's precision is trainer.precision's to set), or if building it changed torch's
    process-wide state (say, the default dtype): that state is put back first, so a net that
    would train otherwise than its summary says never does, and the next run of a sweep is unharmed."""
    build = load_builder(config.builder)
    before = torch_state()
    try:
        net = build(
            depth=config.depth, residual=config.residual, num_classes=config.num_classes, in_channels=config.in_channels
        )
    finally:
        after = torch_state()
        if after != before:
            set_torch_state(before)
    changed = [f"{key} {before[key]} -> {after[key]}" for key in before if after[key] != before[key]]
    if changed:
        raise ValueError(
            f"builder {config.builder} changed torch's process-wide state ({'; '.join(changed)}); it was put back "
            "and the net refused. A builder must build its net and change nothing else (the precision is "
            "trainer.precision's to set)"
        )
    if not isinstance(net, nn.Module):
        raise ValueError(
            f"builder {config.builder} returned a {type(net).__name__}, not a torch.nn.Module: it must return "
            "the net itself"
        )
    dtypes = sorted(
        {str(t.dtype) for t in (*net.parameters(), *net.buffers()) if t.is_floating_point()} - {"torch.float32"}
    )
    if dtypes:
        raise ValueError(
            f"builder {config.builder} made a net with {', '.join(dtypes)} weights; build it in float32 "
            "(the precision a run trains in is trainer.precision's to set, and its summary records it)"
        )
    return UserNet(config, net)
