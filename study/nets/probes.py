"""What is measured on a net: its 3x3 layers' responses (Figure 7 and the diagnostics), its
parameters and its multiply-adds."""

import torch
from torch import nn

from study import paper
from study.nets.user import UserNet


def response_layers(model: nn.Module) -> list[tuple[str, nn.Module, nn.Conv2d]]:
    """(name, module whose output is the response, its 3x3 conv) for every 3x3 layer, in forward
    order: the "layer responses" of the paper's Figure 7. In the original unit the response is the
    BN output after the conv (before ReLU and before the addition); in the pre-activation unit,
    whose convs are followed by no BN, and in a net without normalisation, the conv output itself
    (study.paper.response_point says which). Shortcut projections and 1x1 convs
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
    config = getattr(model, "config", None)
    at_conv = (
        paper.response_point(getattr(config, "unit", "original"), getattr(config, "norm", "batch")) == "conv output"
    )
    layers, last_conv = [], None
    for name, module in model.named_modules():
        if ".shortcut" in name or name.startswith("shortcut"):
            continue
        if isinstance(module, nn.Conv2d):
            last_conv = module
            if at_conv and module.kernel_size == (3, 3):
                layers.append((name, module, module))
        elif isinstance(module, nn.BatchNorm2d) and not at_conv and last_conv is not None:
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
