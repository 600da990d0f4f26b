"""Trained nets a user can use (exports that carry their preprocessing), and published nets the
study can read (importers that lay out option A's channels as ours)."""

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from commands import run_main
from fake_runs import study_runs
from fixture_data import fixture_arrays
from study.nets import build_cifar_net
from study.nets.export import CHANNEL_LAYOUT, ExportError, PreprocessedNet, load_export, save_export
from study.nets.imports import AKAMASTER_MEAN, AKAMASTER_STD, import_akamaster, middle_padding_permutations
from tiny_runs import train_in_process

FIXTURE_DATA = ("data.verify_checksums=false", "data.expected_counts=null")


def quoted_test_error(out: str) -> float:
    return float(re.search(r"test error: ([\d.]+)%", out)[1])


def errors_on_fixture_images(net: nn.Module, as_uint8: bool) -> float:
    images, labels = fixture_arrays()["test"]
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    x = x if as_uint8 else x.float() / 255
    with torch.no_grad():
        return 100.0 * (net(x).argmax(1) != torch.from_numpy(labels)).double().mean().item()


def test_an_exported_net_fed_ordinary_images_gives_the_error_its_run_measured(cifar_root, tmp_path):
    status, run_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    assert status == "completed"
    export = tmp_path / "net.pt"
    from_run = run_main("study.evaluate", str(run_dir), f"data.root={cifar_root}", "--export", str(export), check=True)
    from_export = run_main("study.evaluate", str(export), f"data.root={cifar_root}", *FIXTURE_DATA, check=True)
    assert quoted_test_error(from_export.stdout) == quoted_test_error(from_run.stdout)  # evaluate takes what it exports

    net = load_export(export)
    assert net.source["step"] == 6 and net.source["run"].endswith(run_dir.name)
    quoted = quoted_test_error(from_run.stdout)
    # plain images, float in [0, 1] or uint8, without any normalisation by the user
    assert errors_on_fixture_images(net, as_uint8=False) == pytest.approx(quoted, abs=1e-3)
    assert errors_on_fixture_images(net, as_uint8=True) == pytest.approx(quoted, abs=1e-3)


def test_torch_hub_serves_the_export_with_its_preprocessing(tmp_path, monkeypatch):
    import hubconf

    torch.manual_seed(0)
    mean = torch.rand(3, 32, 32)
    save_export(PreprocessedNet(build_cifar_net(20, True), mean), tmp_path / "resnet20.pt", {"step": 1})
    monkeypatch.setitem(hubconf.WEIGHTS, "resnet20", (str(tmp_path / "resnet20.pt"), str(tmp_path)))
    net = hubconf.resnet20(pretrained=True)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), net.net(x - mean))
    with pytest.raises(ValueError, match="trained weights are for CIFAR-10"):
        hubconf.resnet20(pretrained=True, num_classes=100)
    with pytest.raises(ValueError, match="holds a ResNet-20, not a ResNet-32"):
        monkeypatch.setitem(hubconf.WEIGHTS, "resnet32", (str(tmp_path / "resnet20.pt"), str(tmp_path)))
        hubconf.resnet32(pretrained=True)


def test_a_state_dict_of_another_origin_is_refused_naming_the_importer(tmp_path, cifar_root):
    torch.save(build_cifar_net(20, True).state_dict(), tmp_path / "foreign.pt")
    with pytest.raises(ExportError, match="never loaded by its names alone.*--import akamaster"):
        load_export(tmp_path / "foreign.pt")
    result = run_main("study.evaluate", str(tmp_path / "foreign.pt"), f"data.root={cifar_root}")
    assert result.returncode == 2 and "--import akamaster FILE" in result.stderr


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e.update(channel_layout="option A: identity in the middle"), "lays out its shortcut channels"),
        (lambda e: e["input"].update(mean=torch.zeros(1, 32, 32)), "input.mean has shape"),
        (lambda e: e.update(net={"arch": "resnet", "depth": 21}), "cannot be built"),
        (lambda e: e["state_dict"].pop("fc.weight"), "does not fit"),
    ],
)
def test_a_damaged_export_is_refused_with_what_is_wrong(tmp_path, change, message):
    save_export(PreprocessedNet(build_cifar_net(8, True), torch.zeros(3, 32, 32)), tmp_path / "n.pt", {})
    export = torch.load(tmp_path / "n.pt", weights_only=True)
    assert export["channel_layout"] == CHANNEL_LAYOUT
    change(export)
    torch.save(export, tmp_path / "n.pt")
    with pytest.raises(ExportError, match=message):
        load_export(tmp_path / "n.pt")


class MiddlePad(nn.Module):
    """Option A as akamaster writes it: planes // 4 zero channels on both sides of the identity."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class TheirBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = MiddlePad(planes) if stride != 1 or in_planes != planes else nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class TheirResNet(nn.Module):
    """A CIFAR ResNet laid out and named as akamaster/pytorch_resnet_cifar10 lays it out."""

    def __init__(self, n: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        widths, layers, in_planes = (16, 32, 64), [], 16
        for stage, planes in enumerate(widths):
            blocks = [
                TheirBlock(in_planes if i == 0 else planes, planes, 2 if stage and i == 0 else 1) for i in range(n)
            ]
            layers.append(nn.Sequential(*blocks))
            in_planes = planes
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def their_net(n: int) -> TheirResNet:
    torch.manual_seed(1)
    net = TheirResNet(n)
    for module in net.modules():  # trained-looking BN statistics, so no channel is interchangeable
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.2, 0.2)
    return net.eval()


def test_the_permutations_put_ours_where_akamasters_identity_sits():
    first, second, third = middle_padding_permutations()
    assert first == list(range(16))
    assert second[:16] == list(range(8, 24)) and sorted(second[16:]) == [*range(8), *range(24, 32)]
    assert third[:32] == [16 + c for c in second] and sorted(third) == list(range(64))


@pytest.mark.parametrize("n", [1, 2])
def test_an_imported_akamaster_net_computes_what_it_computes_in_its_own_code(tmp_path, n):
    theirs = their_net(n)
    torch.save({"state_dict": {f"module.{k}": v for k, v in theirs.state_dict().items()}}, tmp_path / "their.th")
    ours = import_akamaster(tmp_path / "their.th")
    assert ours.config.depth == 6 * n + 2 and ours.source["imported"] == "akamaster"
    x = torch.rand(8, 3, 32, 32)
    normalized = (x - torch.tensor(AKAMASTER_MEAN).view(3, 1, 1)) / torch.tensor(AKAMASTER_STD).view(3, 1, 1)
    with torch.no_grad():
        expected = theirs(normalized)
        assert torch.allclose(ours(x), expected, atol=1e-5)
        # the names alone load too, strictly, and compute something else: why the permutation is needed
        by_name = build_cifar_net(6 * n + 2, True).eval()
        by_name.load_state_dict(ours.net.state_dict())
        renamed = {k.replace("layer", "stage").replace("linear", "fc"): v for k, v in theirs.state_dict().items()}
        by_name.load_state_dict({**by_name.state_dict(), **renamed})
        assert not torch.allclose(by_name(normalized), expected, atol=1e-2)


def test_an_imported_net_exports_as_ours_recording_where_it_came_from(tmp_path):
    torch.save({"state_dict": their_net(1).state_dict()}, tmp_path / "resnet8.th")
    save_export(import_akamaster(tmp_path / "resnet8.th"), tmp_path / "ours.pt", {"imported": "akamaster"})
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(load_export(tmp_path / "ours.pt")(x), import_akamaster(tmp_path / "resnet8.th")(x))


def test_an_imported_nets_layer_responses_are_drawn_beside_the_runs(cifar_root, tmp_path):
    torch.save({"state_dict": their_net(1).state_dict()}, tmp_path / "resnet8.th")
    responses = tmp_path / "akamaster8.csv"
    measured = run_main(
        "study.evaluate",
        "--import",
        "akamaster",
        str(tmp_path / "resnet8.th"),
        f"data.root={cifar_root}",
        *FIXTURE_DATA,
        "--responses",
        str(responses),
        check=True,
    )
    assert "test error:" in measured.stdout and "train error" not in measured.stdout
    rows = responses.read_text().splitlines()
    assert rows[0] == "layer,name,std" and len(rows) == 1 + 7  # ResNet-8: the stem and six block convs
    study_runs(tmp_path / "runs")
    label = "ResNet-8 (akamaster, $x$)"
    report = run_main(
        "study.report",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "out"),
        "--published",
        f"{label}={responses}",
        "--published",
        f"broken={tmp_path / 'none.csv'}",
        check=True,
    )
    assert "published responses broken" in report.stdout and "no such file" in report.stdout
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Figure 7 also draws published nets (dotted)" in text and label in text


def test_a_published_flag_without_its_label_or_file_is_refused(tmp_path):
    result = run_main("study.report", str(tmp_path), "--published", "responses.csv")
    assert result.returncode == 2 and "write it as LABEL=CSV" in result.stderr
