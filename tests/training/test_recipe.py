import pytest

from study.nets import build_cifar_net
from study.training.recipe import ImageClassifier, learning_rate

RECIPE = dict(lr=0.1, milestones=[32_000, 48_000], gamma=0.1)


@pytest.mark.parametrize(
    "step,expected", [(0, 0.1), (31_999, 0.1), (32_000, 0.01), (47_999, 0.01), (48_000, 0.001), (63_999, 0.001)]
)
def test_learning_rate_at_the_boundaries(step, expected):
    assert learning_rate(step, **RECIPE) == expected


def test_warmup_holds_001_whatever_the_step():
    assert learning_rate(0, **RECIPE, warming_up=True, warmup_lr=0.01) == 0.01
    assert learning_rate(40_000, **RECIPE, warming_up=True, warmup_lr=0.01) == 0.01


def make_module(warmup: bool) -> ImageClassifier:
    return ImageClassifier.with_paper_recipe(build_cifar_net(8, True), warmup=warmup)


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
