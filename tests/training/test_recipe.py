import re

import pytest

from study.nets import build_cifar_net
from study.training.recipe import ImageClassifier, OptimConfig

PAPER = OptimConfig()  # the paper's recipe: lr 0.1, x0.1 at 32k and 48k, warm-up lr 0.01


@pytest.mark.parametrize(
    "step,expected", [(0, 0.1), (31_999, 0.1), (32_000, 0.01), (47_999, 0.01), (48_000, 0.001), (63_999, 0.001)]
)
def test_learning_rate_at_the_boundaries(step, expected):
    assert PAPER.lr_at(step) == expected


def test_warmup_holds_001_whatever_the_step():
    assert PAPER.lr_at(0, warming_up=True) == 0.01
    assert PAPER.lr_at(40_000, warming_up=True) == 0.01


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("lr", 0, "lr=0 must be a positive number"),
        ("lr", float("nan"), "lr=nan must be a positive number"),
        ("momentum", 1.0, "momentum=1.0 must be in [0, 1)"),
        ("weight_decay", -1e-4, "weight_decay=-0.0001 must be zero or positive"),
        ("gamma", 0, "gamma=0 must be in (0, 1]"),
        ("milestones", [48_000, 32_000], "must be rising step numbers"),
    ],
)
def test_an_impossible_optimiser_setting_is_refused_by_name(field, value, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        OptimConfig(**{field: value})


def test_the_warmup_is_on_by_default_from_110_layers():
    assert not PAPER.warmup_on(56) and PAPER.warmup_on(110)
    assert not OptimConfig(warmup=False).warmup_on(110) and OptimConfig(warmup=True).warmup_on(20)


def make_module(warmup: bool) -> ImageClassifier:
    return ImageClassifier(build_cifar_net(8, True), warmup=warmup)


def test_the_modules_scheduler_follows_the_paper_step_by_step():
    module = make_module(warmup=False)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    seen = {}
    for step in range(48_001):  # the lr in the param group when update `step` runs
        if step in (0, 31_999, 32_000, 48_000):
            seen[step] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
    assert seen == {0: 0.1, 31_999: 0.1, 32_000: pytest.approx(0.01), 48_000: pytest.approx(0.001)}


def test_the_scheduler_leaves_warmup_when_the_module_does():
    module = make_module(warmup=True)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    module.warming_up = False  # what the 50-step window test does once the error is below 80%
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_warmup_state_travels_in_checkpoints():
    module = make_module(warmup=True)
    checkpoint = {}
    module.warming_up = False
    module.on_save_checkpoint(checkpoint)
    fresh = make_module(warmup=True)
    fresh.on_load_checkpoint(checkpoint)
    assert fresh.warming_up is False
    assert {"train_counts", "train_loss_sum"} <= set(module.state_dict())  # the log accumulators are checkpointed too


def test_a_checkpoint_from_before_the_training_loss_was_logged_still_loads():
    old = {k: v for k, v in make_module(warmup=False).state_dict().items() if k != "train_loss_sum"}
    checkpoint = {"warming_up": False, "state_dict": old}
    fresh = make_module(warmup=False)
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])  # strict, as Lightning loads it
    assert fresh.train_loss_sum.item() == 0
