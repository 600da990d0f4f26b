"""`model=custom model.builder=module:function`: a net of the user's through the whole study, and
the refusal of builders that cannot work, before any folder is made."""

import json
import os
import sys
import textwrap

import pytest
import torch

from commands import REPO, run_cli
from study.results.publish import write_report
from study.training.config import ConfigError, validate
from tiny_runs import compose_config, stopped_at_step, tiny_run_args, train_in_process

EXAMPLE = ("model=custom", "model.builder=mynets:build")


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """A folder on sys.path for the user's modules (docs/nets.md's example among them)."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.syspath_prepend(str(REPO / "examples"))
    yield folder
    for name in [m for m in sys.modules if m.startswith("usernets_")]:
        del sys.modules[name]


def write_module(folder, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text("import torch\nfrom torch import nn\n\n" + textwrap.dedent(body))


def test_the_readme_example_sweeps_two_depths_with_plain_twins_and_reports(cifar_root, tmp_path):
    """docs/nets.md's commands, as a user runs them (PYTHONPATH=examples), at a few steps."""
    runs = tmp_path / "runs"
    env = {"PYTHONPATH": os.pathsep.join([str(REPO / "examples"), str(REPO)])}
    args = tiny_run_args(cifar_root, runs, *EXAMPLE, "model.arch=resnet,plain", "model.depth=8,14", "diag_every=3")
    run_cli("study.train", "-m", *args, env=env, check=True)
    folders = sorted(p.parent.parent.name for p in runs.rglob("summary.json"))
    assert folders == ["mynets.build-plain14", "mynets.build-plain8", "mynets.build-resnet14", "mynets.build-resnet8"]
    assert write_report([runs], tmp_path / "out") == 0
    (report,) = (tmp_path / "out").rglob("report.md")
    text = report.read_text()
    assert "| mynets.build-ResNet-8 |" in text and "| mynets.build-plain-14 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| mynets.build-ResNet-8 |"))
    assert "| - |" in row  # no published number for a net of the user's
    assert (report.parent / "fig7.png").is_file() and "expose none" not in text
    assert "Not run yet" not in text  # the paper's grid is not this study's


def test_a_user_net_resumes_to_the_numbers_of_an_uninterrupted_run(cifar_root, tmp_path, user_code, monkeypatch):
    import study.training.run
    from study.training.callbacks import StopOnSignal

    _, straight = train_in_process(cifar_root, tmp_path / "straight", *EXAMPLE, "model.depth=8")
    monkeypatch.setattr(study.training.run, "StopOnSignal", stopped_at_step(4))
    with pytest.raises(SystemExit):
        train_in_process(cifar_root, tmp_path / "stopped", *EXAMPLE, "model.depth=8")
    monkeypatch.setattr(study.training.run, "StopOnSignal", StopOnSignal)
    status, resumed = train_in_process(cifar_root, tmp_path / "stopped", *EXAMPLE, "model.depth=8")
    assert status == "completed"
    a, b = (json.loads((d / "summary.json").read_text()) for d in (straight, resumed))
    assert a["final_test_error"] == b["final_test_error"] and a["final_train_error"] == b["final_train_error"]
    assert a["params"] == b["params"] and a["config"]["model"]["builder"] == "mynets:build"


def test_a_net_that_names_its_responses_is_measured_there(cifar_root, tmp_path, user_code):
    write_module(
        user_code,
        "usernets_named",
        """
        class Net(nn.Module):
            def __init__(self, num_classes, in_channels):
                super().__init__()
                self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
                self.act = nn.Identity()
                self.fc = nn.Linear(8, num_classes)

            def forward(self, x):
                return self.fc(self.act(self.conv(x)).mean((2, 3)))

            def response_layers(self):
                return [("conv", self.act, self.conv)]

        def build(depth, residual, num_classes, in_channels):
            return Net(num_classes, in_channels)
        """,
    )
    status, run_dir = train_in_process(cifar_root, tmp_path, "model=custom", "model.builder=usernets_named:build")
    assert status == "completed"
    assert (run_dir / "layer_responses.csv").read_text().splitlines()[1].startswith("1,conv,")


def test_a_net_without_responses_trains_and_the_report_says_so(cifar_root, tmp_path, user_code):
    write_module(
        user_code,
        "usernets_flat",
        """
        def build(depth, residual, num_classes, in_channels):
            return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 32 * 32, num_classes))
        """,
    )
    status, run_dir = train_in_process(
        cifar_root, tmp_path / "runs", "model=custom", "model.builder=usernets_flat:build"
    )
    assert status == "completed" and not (run_dir / "layer_responses.csv").exists()
    assert not (run_dir / "diagnostics.csv").exists()
    write_report([tmp_path / "runs"], tmp_path / "out")
    (report,) = (tmp_path / "out").rglob("report.md")
    assert "the nets of this study expose none" in report.read_text()


BAD_BUILDERS = {
    "usernets_missing_module_xyz:build": "the module usernets_missing_module_xyz cannot be imported",
    "usernets_bad:nothing": "usernets_bad has no function nothing",
    "usernets_bad:two_args": "cannot be called as build(depth: int, residual: bool, num_classes: int, in_channels",
    "usernets_bad:not_a_net": "returned a str, not a torch.nn.Module",
    "usernets_bad:crashes": "builder usernets_bad:crashes: RuntimeError: no GPU here",
    "usernets_bad:wrong_outputs": "gives (2, 7) for 2 images of 3x32x32; it must give (2, 10)",
    "usernets_bad:nothing_to_train": "made a net with no parameters to train",
    "usernets_bad:fails_on_images": "builder usernets_bad:fails_on_images: RuntimeError",
    "usernets_bad:sets_float64": "changed torch's process-wide state (default dtype torch.float32 -> torch.float64)",
    "usernets_bad:turns_off_gradients": "changed torch's process-wide state (gradients enabled True -> False)",
    "usernets_bad:float64_weights": "made a net with torch.float64 weights; build it in float32",
    "../../etc:passwd": "is not a 'package.module:function' name",
}


@pytest.mark.parametrize("builder,expected", BAD_BUILDERS.items())
def test_a_builder_that_cannot_work_is_refused_before_any_folder(cifar_root, tmp_path, user_code, builder, expected):
    write_module(
        user_code,
        "usernets_bad",
        """
        def two_args(depth, residual):
            return nn.Linear(1, 1)

        def not_a_net(depth, residual, num_classes, in_channels):
            return "a net"

        def crashes(depth, residual, num_classes, in_channels):
            raise RuntimeError("no GPU here")

        def wrong_outputs(depth, residual, num_classes, in_channels):
            return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 32 * 32, 7))

        def nothing_to_train(depth, residual, num_classes, in_channels):
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

        def fails_on_images(depth, residual, num_classes, in_channels):
            return nn.Linear(5, num_classes)

        def sets_float64(depth, residual, num_classes, in_channels):
            torch.set_default_dtype(torch.float64)
            return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 32 * 32, num_classes))

        def turns_off_gradients(depth, residual, num_classes, in_channels):
            torch.set_grad_enabled(False)
            return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 32 * 32, num_classes))

        def float64_weights(depth, residual, num_classes, in_channels):
            return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 32 * 32, num_classes)).double()
        """,
    )
    with pytest.raises(ConfigError) as err:
        train_in_process(cifar_root, tmp_path / "runs", "model=custom", f"model.builder={builder}")
    assert expected in str(err.value) and "model.builder" in str(err.value)
    assert not (tmp_path / "runs").exists()
    # what the builder changed was put back: the next run of the same process trains as its summary says
    assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()


@pytest.mark.parametrize(
    "override,expected",
    [
        (None, "model=custom needs model.builder=package.module:function"),
        ("model.unit=preact", "unit='preact' applies to the paper's nets only"),
        ("model.shortcut=B", "shortcut='B' applies to the paper's nets only"),
        ("model.depth=0", "depth=0 must be a positive whole number"),
    ],
)
def test_custom_settings_that_mean_nothing_are_refused(user_code, override, expected):
    builder = [] if override is None else ["model.builder=mynets:build", override]
    with pytest.raises(ConfigError) as err:
        validate(compose_config("model=custom", *builder))
    assert expected in str(err.value)


def test_evaluate_imports_a_builder_only_when_the_user_names_it(cifar_root, tmp_path, user_code):
    _, run_dir = train_in_process(cifar_root, tmp_path, *EXAMPLE, "model.depth=8")
    from study.evaluate import EvaluateError, load

    with pytest.raises(EvaluateError, match="give --builder mynets:build"):
        load(run_dir, [f"data.root={cifar_root}", "data.verify_checksums=false"])
    net, _, source = load(run_dir, [f"data.root={cifar_root}", "data.verify_checksums=false"], "mynets:build")
    assert source["step"] == 6 and net.config.builder == "mynets:build"
