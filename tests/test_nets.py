import json
import re

import pytest
import torch

from study import paper
from study.nets import (
    NetConfig,
    blocks_per_stage,
    build_cifar_net,
    build_net,
    count_parameters,
    forward_macs,
    response_layers,
)
from study.nets.blocks import ZeroPadShortcut, branch_convs, make_shortcut, preact_shortcut_input
from study.runs.identity import net_label


@pytest.mark.parametrize("depth", paper.DEPTHS)
def test_parameter_counts_match_the_paper_exactly(depth):
    assert count_parameters(build_cifar_net(depth, residual=True)) == paper.PARAMS[depth]
    assert count_parameters(build_cifar_net(depth, residual=False)) == paper.PARAMS[depth]


def test_projection_shortcuts_add_their_parameters():
    assert count_parameters(build_cifar_net(20, True, "B")) == 272_474
    assert count_parameters(build_cifar_net(20, True, "C")) == 283_962


@pytest.mark.parametrize("depth,expected", [(20, 40.6e6), (56, 125.5e6), (110, 252.9e6)])
def test_forward_multiply_adds_agree_with_public_counts(depth, expected):
    assert forward_macs(build_cifar_net(depth, True)) == pytest.approx(expected, rel=0.01)


def test_option_a_pads_new_channels_with_zeros_and_subsamples():
    shortcut = ZeroPadShortcut(16, 32, stride=2)
    assert not list(shortcut.parameters())
    x = torch.randn(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0


def test_option_a_is_plain_identity_where_the_shape_stays():
    assert isinstance(make_shortcut("A", 16, 16, 1), torch.nn.Identity)
    assert isinstance(make_shortcut("B", 16, 16, 1), torch.nn.Identity)
    assert not isinstance(make_shortcut("C", 16, 16, 1), torch.nn.Identity)


def _zero_last_bn(net):
    for block in [b for stage in (net.stage1, net.stage2, net.stage3) for b in stage]:
        torch.nn.init.zeros_(block.bn2.weight)
        torch.nn.init.zeros_(block.bn2.bias)
    return net.eval()


def test_residual_block_with_zeroed_branch_is_identity_and_plain_block_is_not():
    torch.manual_seed(0)
    x = torch.relu(torch.randn(4, 16, 8, 8))  # a block's input is a ReLU output
    resnet_block = _zero_last_bn(build_cifar_net(20, True)).stage1[0]
    plain_block = _zero_last_bn(build_cifar_net(20, False)).stage1[0]
    assert torch.allclose(resnet_block(x), x)
    assert torch.count_nonzero(plain_block(x)) == 0  # nothing carries x past a zeroed branch


def test_plain_nets_have_no_shortcuts():
    net = build_cifar_net(20, residual=False)
    assert all(block.shortcut is None for stage in (net.stage1, net.stage2, net.stage3) for block in stage)


@pytest.mark.parametrize("depth", [0, 5, 19, 21, 100, 1201])
def test_impossible_depth_names_the_rule_and_nearest_depths(depth):
    with pytest.raises(ValueError, match="6n\\+2") as err:
        build_cifar_net(depth, True)
    assert "nearest valid" in str(err.value)


def test_nearest_depths_are_right():
    with pytest.raises(ValueError, match="nearest valid: 20 or 26"):
        build_cifar_net(21, True)


def test_unknown_shortcut_lists_the_options():
    with pytest.raises(ValueError, match="A, B, C"):
        build_cifar_net(20, True, "D")


def test_every_3x3_layer_response_is_reachable_by_name():
    net = build_cifar_net(20, True, "B")
    names = [name for name, _, _ in response_layers(net)]
    assert len(names) == 19  # 6n+1 conv layers; the shortcut projections are not 3x3 layers
    assert names[0] == "bn1" and names[1] == "stage1.0.bn1" and names[-1] == "stage3.2.bn2"
    assert dict(net.named_modules())["stage2.0.bn2"] is response_layers(net)[8][1]
    assert dict(net.named_modules())["stage2.0.conv2"] is response_layers(net)[8][2]


def test_grey_images_and_other_sizes_work():
    net = build_cifar_net(8, True, in_channels=1)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.slow
def test_models_self_check_prints_the_table(capsys):
    from study.nets.__main__ import main

    main()
    out = capsys.readouterr().out
    assert "19,421,274" in out and "MISMATCH" not in out


@pytest.mark.parametrize("depth,unit,params", [(164, "original", 1_704_154), (164, "preact", 1_703_258)])
def test_bottleneck_nets_have_the_published_parameter_counts(depth, unit, params):
    net = build_net(NetConfig("resnet", depth, "B", unit=unit, block="bottleneck"))
    assert count_parameters(net) == params
    assert count_parameters(net) == pytest.approx(paper.BOTTLENECK_PARAMS_M[depth] * 1e6, rel=0.02)


def test_a_pre_activation_unit_adds_its_branch_to_a_clean_identity_path():
    torch.manual_seed(0)
    basic = build_net(NetConfig("resnet", 8, unit="preact")).stage1[0].eval()  # 16 -> 16: an identity shortcut
    bottleneck = build_net(NetConfig("resnet", 20, unit="preact", block="bottleneck")).stage1[1].eval()  # 64 -> 64
    for unit, last, width in ((basic, basic.conv2, 16), (bottleneck, bottleneck.conv3, 64)):
        x = torch.randn(4, width, 8, 8)  # negative values too: nothing after the addition clips them
        torch.nn.init.zeros_(last.weight)
        assert torch.equal(unit(x), x) and (unit(x) < 0).any()
    original = build_net(NetConfig("resnet", 8)).stage1[0].eval()
    torch.nn.init.zeros_(original.conv2.weight)
    torch.nn.init.zeros_(original.bn2.bias)
    x = torch.randn(4, 16, 8, 8)
    assert torch.equal(original(x), torch.relu(x))  # the original unit's ReLU after the addition


@pytest.mark.parametrize("block, depth", [("basic", 20), ("bottleneck", 11)])
def test_a_plain_net_in_pre_activation_order_is_the_original_plain_net(block, depth):
    # no addition for the BN-ReLU to move around: the same seed builds the same weights and function
    nets = []
    for unit in ("original", "preact"):
        torch.manual_seed(0)
        nets.append(build_net(NetConfig("plain", depth, unit=unit, block=block)).train())
    original, preact = nets
    assert hasattr(original, "bn1") and hasattr(preact, "bn_final")  # built as two different nets
    convs = [[m.weight for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))] for net in nets]
    assert all(torch.equal(a, b) for a, b in zip(*convs, strict=True))
    x = torch.randn(8, 3, 32, 32)
    assert torch.allclose(original(x), preact(x), rtol=0, atol=1e-6)


def test_a_pre_activation_net_ends_with_one_bn_relu_and_responds_at_its_3x3_convs():
    net = build_net(NetConfig("resnet", 8, unit="preact"))
    assert not hasattr(net, "bn1") and isinstance(net.bn_final, torch.nn.BatchNorm2d)
    layers = response_layers(net)
    assert len(layers) == 7 and all(module is conv and conv.kernel_size == (3, 3) for _, module, conv in layers)


def test_a_bottleneck_net_responds_at_its_3x3_layers_only():
    layers = response_layers(build_net(NetConfig("resnet", 11, "B", block="bottleneck")))
    assert len(layers) == 1 + 3 and all(conv.kernel_size == (3, 3) for _, _, conv in layers)


@pytest.mark.parametrize("depth", [21, 57, 100])
def test_a_depth_bottlenecks_cannot_build_names_their_rule(depth):
    with pytest.raises(ValueError, match="9n\\+2 .*He et al. 2016 use 164, 1001"):
        build_net(NetConfig("resnet", depth, block="bottleneck"))


def test_unknown_unit_or_block_lists_the_options():
    with pytest.raises(ValueError, match="original, preact"):
        NetConfig(unit="post")
    with pytest.raises(ValueError, match="basic, bottleneck"):
        NetConfig(block="wide")


@pytest.mark.parametrize(
    "net,described,folder",
    [
        (NetConfig("resnet", 20), "ResNet-20", "resnet20"),
        (NetConfig("plain", 56, "B"), "plain-56", "plain56"),  # no shortcut, so no option to name
        (NetConfig("resnet", 20, "B"), "ResNet-20 (shortcut B)", "resnet20-B"),
        (
            NetConfig("resnet", 164, "B", unit="preact", block="bottleneck"),
            "ResNet-164 (shortcut B, preact, bottleneck)",
            "resnet164-B-preact-bottleneck",
        ),
        (NetConfig("plain", 20, unit="preact"), "plain-20 (preact)", "plain20-preact"),
    ],
)
def test_a_net_is_named_by_how_it_departs_from_the_papers_choices(net, described, folder):
    assert net.describe() == described
    assert net_label(net.arch, net.depth, net.shortcut, unit=net.unit, block=net.block) == folder


def test_torch_hub_builds_every_net_from_a_local_checkout_and_claims_no_weights_it_lacks():
    import torch

    from commands import REPO

    load = lambda name, **kw: torch.hub.load(str(REPO), name, source="local", **kw)  # noqa: E731
    assert count_parameters(load("resnet20")) == paper.PARAMS[20] == count_parameters(load("plain20"))
    preact = load("preact_resnet164", num_classes=100)
    assert preact.config == NetConfig("resnet", 164, "B", 100, 3, unit="preact", block="bottleneck")
    assert load("resnet1001").config.block == "bottleneck"
    with pytest.raises(ValueError, match="resnet56: the project has no trained weights"):
        load("resnet56", pretrained=True)
    fixup = load("resnet56", norm="none", init="fixup")  # the variants, built, never trained weights
    assert fixup.config == NetConfig("resnet", 56, "A", norm="none", init="fixup")
    assert count_parameters(fixup) == 849_091 and count_parameters(load("plain20", norm="none")) == 269_034
    with pytest.raises(ValueError, match="resnet20: trained weights are offered only for the paper's BN nets"):
        load("resnet20", pretrained=True, norm="none", init="skipinit")
    with pytest.raises(ValueError, match="init='zero_gamma' acts on residual branches, and a plain net has none"):
        load("plain56", init="zero_gamma")


@pytest.mark.parametrize("status, error", [("interrupted", 14.1), ("completed", None), ("completed", True)])
def test_torch_hub_quotes_a_test_error_only_from_a_finished_run(tmp_path, status, error):
    import hubconf

    (tmp_path / "summary.json").write_text(json.dumps({"status": status, "final_test_error": error}))
    with pytest.raises(ValueError, match="not a finished run with a test error"):
        hubconf._test_error(str(tmp_path))
    (tmp_path / "summary.json").write_text(json.dumps({"status": "completed", "final_test_error": 8.61}))
    assert hubconf._test_error(str(tmp_path)) == 8.61


def _offered_weights():
    import hubconf

    return sorted(hubconf.WEIGHTS.items())


@pytest.mark.parametrize("name, entry", _offered_weights())
def test_every_offered_weight_file_is_a_finished_full_length_run_of_its_net_and_loads(name, entry):
    """What torch.hub offers as trained is the committed run's own net: the same architecture,
    the paper's 64,000 steps, and the test error the entry quotes is that run's."""
    import hubconf
    from commands import REPO
    from study.runs import summary as run_summary

    _, run = entry
    summary = run_summary.read(REPO / run)
    assert summary is not None and not run_summary.problems(summary) and summary["status"] == "completed"
    net = getattr(hubconf, name)(pretrained=True)  # load_state_dict is strict: every tensor, right shape
    config = net.config
    assert (summary["arch"], summary["depth"], summary["shortcut"]) == (config.arch, config.depth, config.shortcut)
    assert summary["steps"] == paper.RECIPE["max_steps"] and count_parameters(net) == summary["params"]
    assert f"{summary['final_test_error']:.2f}% CIFAR-10 test error" in getattr(hubconf, name).__doc__


# ---------------------------------------------------------------------------------------------
# Normalisation-free nets and the inits that start each residual branch at zero


def block_inputs_and_outputs(net: torch.nn.Module, images: torch.Tensor) -> list[tuple]:
    """(block, its input, its output) of every block of a forward pass, copied: a later in-place
    ReLU (the pre-activation net's last, with no BN before it) must not change what was seen."""
    seen = []
    blocks = [block for stage in (net.stage1, net.stage2, net.stage3) for block in stage]
    handles = [
        b.register_forward_hook(lambda m, i, o: seen.append((m, i[0].detach().clone(), o.detach().clone())))
        for b in blocks
    ]
    with torch.no_grad():
        net(images)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize(
    "config",
    [
        NetConfig("resnet", depth, init=init, norm="none" if init == "fixup" else norm, unit=unit)
        for depth in (20, 110)
        for init, norm, unit in (
            ("zero_gamma", "batch", "original"),
            ("fixup", "none", "original"),
            ("skipinit", "none", "original"),
            ("skipinit", "batch", "original"),
            ("zero_gamma", "batch", "preact"),
            ("skipinit", "none", "preact"),
        )
    ]
    + [NetConfig("resnet", 164, init="fixup", norm="none", block="bottleneck", shortcut="B")],
    ids=lambda c: c.describe(),
)
def test_at_initialisation_every_residual_block_is_exactly_its_shortcut_path(config):
    torch.manual_seed(0)
    net = build_net(config).train()
    seen = block_inputs_and_outputs(net, torch.randn(4, 3, 32, 32))
    assert len(seen) == 3 * blocks_per_stage(config.depth, config.block)
    for block, x, out in seen:
        if config.unit == "preact":
            expected = block.shortcut(preact_shortcut_input(block.shortcut, x, torch.relu(block.bn1(x))))
        else:
            expected = torch.relu(block.shortcut(x))
        assert torch.equal(out, expected)


def test_he_init_blocks_are_not_their_shortcut_path():
    torch.manual_seed(0)
    for norm in ("batch", "none"):
        (block, x, out), *_ = block_inputs_and_outputs(build_net(NetConfig(norm=norm)), torch.randn(4, 3, 32, 32))
        assert not torch.allclose(out, torch.relu(block.shortcut(x)))


@pytest.mark.parametrize("depth, block, m", [(20, "basic", 2), (110, "basic", 2), (164, "bottleneck", 3)])
def test_fixup_scales_each_branch_by_its_formula(depth, block, m):
    """Zhang et al. 2019: inner branch layers He-normal (fan out) times L^(-1/(2m-2)), L branches
    of m layers; the branch's last layer and the classifier at zero."""
    torch.manual_seed(0)
    config = NetConfig("resnet", depth, "B" if block == "bottleneck" else "A", norm="none", init="fixup", block=block)
    net = build_net(config)
    blocks = [b for stage in (net.stage1, net.stage2, net.stage3) for b in stage]
    branches = len(blocks)
    assert branches == 3 * blocks_per_stage(depth, block)
    scale = branches ** (-1 / (2 * m - 2))
    convs = [c for b in net.stage3 for i, c in enumerate(branch_convs(b)) if i < m - 1]  # inner layers
    inner = [c for c in convs if c.kernel_size == (3, 3) and c.in_channels == c.out_channels]
    fan_out = inner[0].out_channels * 9
    weights = torch.cat([c.weight.flatten() for c in inner])
    assert weights.std().item() == pytest.approx((2 / fan_out) ** 0.5 * scale, rel=0.03)
    for b in blocks:
        assert not branch_convs(b)[-1].weight.any()
    assert not net.fc.weight.any() and not net.fc.bias.any()


def test_without_bn_the_plain_net_loses_its_signal_and_fixup_keeps_the_residual_net_finite():
    """Section 4.1 says BN rules out vanishing signals; without it, the same plain-110 loses its
    forward signal (measured by the diagnostics), and a residual-110 explodes under He's init,
    while Fixup keeps one training step and its measurements finite."""
    from study.training.diagnostics import measure

    torch.manual_seed(0)
    images, labels = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))

    def signals(config: NetConfig, step: bool = False) -> list[dict]:
        torch.manual_seed(0)
        net = build_net(config)
        if step:  # one SGD step, so that the zero-initialised layers pass gradients on
            optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
            torch.nn.functional.cross_entropy(net(images), labels).backward()
            optimizer.step()
        return measure(net, images, labels)

    plain = signals(NetConfig("plain", 110, norm="none"))
    assert plain[-1]["response_std"] < 0.01 * plain[0]["response_std"]  # vanishing: about 1/500 here
    with_bn = signals(NetConfig("plain", 110))
    assert all(0.5 < row["response_std"] < 2 for row in with_bn)  # BN holds every layer's response
    residual = signals(NetConfig("resnet", 110, norm="none"))
    assert residual[-1]["response_std"] > 1e4 * residual[0]["response_std"]  # exploding
    fixup = signals(NetConfig("resnet", 110, norm="none", init="fixup"), step=True)
    values = [row[key] for row in fixup for key in ("response_std", "grad_norm")]
    assert all(torch.isfinite(torch.tensor(values))) and max(r["grad_norm"] for r in fixup) > 0
    assert max(r["response_std"] for r in fixup) < 10 * fixup[0]["response_std"]


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"arch": "plain", "init": "zero_gamma"},
            "init='zero_gamma' acts on residual branches, and a plain net has none",
        ),
        ({"arch": "plain", "init": "fixup", "norm": "none"}, "init='fixup' acts on residual branches"),
        ({"arch": "plain", "init": "skipinit"}, "init='skipinit' acts on residual branches"),
        ({"init": "fixup"}, "init='fixup' replaces normalisation (Zhang et al. 2019), so it goes with norm=none"),
        ({"init": "zero_gamma", "norm": "none"}, "init='zero_gamma' sets BN scales, and norm='none' has none"),
        ({"init": "fixup", "norm": "none", "unit": "preact"}, "init='fixup' is published for the original unit"),
        ({"norm": "layer"}, "norm='layer' is unknown: choose one of batch, none"),
        ({"init": "xavier"}, "init='xavier' is unknown: choose one of he, zero_gamma, fixup, skipinit"),
    ],
)
def test_a_combination_without_meaning_is_refused_naming_it(values, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        NetConfig(**values)


def test_the_new_choices_at_their_defaults_keep_every_net_and_its_checkpoint_record_as_before():
    assert NetConfig().as_dict() == {
        "arch": "resnet",
        "depth": 20,
        "shortcut": "A",
        "num_classes": 10,
        "in_channels": 3,
        "unit": "original",
        "block": "basic",
    }
    config = NetConfig(norm="none", init="fixup")
    assert NetConfig.from_dict(config.as_dict()) == config
    assert net_label("resnet", 56, "A", norm="none", init="fixup") == "resnet56-nonorm-fixup"
    assert net_label("resnet", 56, "A") == "resnet56"
