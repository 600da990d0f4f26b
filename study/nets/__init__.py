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

Files: config.py (NetConfig and the choices), blocks.py (blocks and shortcuts), stack.py (the
paper's net, ThreeStageNet), user.py (a user's builder), probes.py (responses, parameters,
multiply-adds); `python -m study.nets` (`make models`) recounts these tables and checks them
against `study.paper`.
"""

from torch import nn

from study.nets.config import ARCHS, BLOCKS, BUILDER_SIGNATURE, SHORTCUTS, UNITS, NetConfig, blocks_per_stage
from study.nets.probes import count_parameters, forward_macs, response_layers
from study.nets.stack import ThreeStageNet
from study.nets.user import UserNet, build_user_net, load_builder

__all__ = [
    "ARCHS",
    "SHORTCUTS",
    "UNITS",
    "BLOCKS",
    "BUILDER_SIGNATURE",
    "NetConfig",
    "ThreeStageNet",
    "UserNet",
    "build_net",
    "load_builder",
    "build_cifar_net",
    "blocks_per_stage",
    "response_layers",
    "count_parameters",
    "forward_macs",
]


def build_net(config: NetConfig) -> nn.Module:
    """The net a NetConfig describes: the paper's (ThreeStageNet) or the user's builder's (UserNet)."""
    return build_user_net(config) if config.builder else ThreeStageNet(config)


def build_cifar_net(
    depth: int, residual: bool, shortcut: str = "A", num_classes: int = 10, in_channels: int = 3
) -> ThreeStageNet:
    """The paper's 6n+2-layer CIFAR net; residual=False gives its plain counterpart."""
    return build_net(NetConfig("resnet" if residual else "plain", depth, shortcut, num_classes, in_channels))
