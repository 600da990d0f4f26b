"""The paper's CIFAR training recipe as a LightningModule (section 4.2): OptimConfig holds the
optimiser and its lr schedule (defaults: study.paper.RECIPE), ImageClassifier trains a net by it.

    optimizer     SGD with momentum and weight decay
    lr            multiplied by gamma at each milestone step
    warm-up       warmup_lr until the training error falls below warmup_until_train_error, then the
                  schedule above (the paper's ResNet-110 and 1202; tested on each 50-step window)

Everything that needs the host (logging, the warm-up test, the divergence test, evaluation) runs
every k steps on device-side accumulators, so the training loop never waits on the GPU per step.
"""

import contextlib
from dataclasses import asdict, dataclass, field

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from study import paper
from study.nets import response_layers
from study.runs.checkpoints import RECORD, made_record

WARMUP_WINDOW = 50  # steps per warm-up test
DIVERGENCE_CHECK_EVERY = 10  # steps between tests for a NaN or infinite loss


@dataclass
class OptimConfig:
    """The optimiser and its lr schedule, the config's `optim` node: the paper's recipe by default.
    Steps are SGD iterations of one mini-batch."""

    lr: float = paper.RECIPE["lr"]
    momentum: float = paper.RECIPE["momentum"]
    weight_decay: float = paper.RECIPE["weight_decay"]
    milestones: list[int] = field(default_factory=lambda: list(paper.RECIPE["milestones"]))  # lr x gamma at each
    gamma: float = paper.RECIPE["lr_gamma"]
    warmup: bool | None = None  # None: on from paper.RECIPE["warmup_from_depth"] layers (ResNet-110, 1202)
    warmup_lr: float = paper.RECIPE["warmup_lr"]
    warmup_until_train_error: float = paper.RECIPE["warmup_until_train_error"]  # percent

    def __post_init__(self):
        ranges = (
            ("lr", self.lr > 0, "a positive number, the paper's is 0.1"),
            ("warmup_lr", self.warmup_lr > 0, "a positive number, the paper's is 0.01"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1), the paper's is 0.9"),
            ("weight_decay", self.weight_decay >= 0, "zero or positive, the paper's is 0.0001"),
            ("gamma", 0 < self.gamma <= 1, "in (0, 1], the paper's is 0.1"),
        )
        for name, ok, allowed in ranges:
            if not ok:  # NaN fails every comparison, so it lands here too
                raise ValueError(f"{name}={getattr(self, name)!r} must be {allowed}")
        if any(m < 0 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones={list(self.milestones)} must be rising step numbers, e.g. [32000, 48000]")

    def warmup_on(self, depth: int) -> bool:
        return depth >= paper.RECIPE["warmup_from_depth"] if self.warmup is None else self.warmup

    def lr_at(self, step: int, warming_up: bool = False) -> float:
        """The learning rate used by update `step` (0-based)."""
        if warming_up:
            return self.warmup_lr
        return round(
            self.lr * self.gamma ** sum(step >= m for m in self.milestones), 12
        )  # 0.001, not 0.0010000000000000002

    def sgd(self, parameters) -> torch.optim.SGD:
        return torch.optim.SGD(parameters, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)


@torch.no_grad()
def misclassified(net: nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """(wrong, seen) per class over (images, labels) batches, float64 on the batches' device, one
    entry per output of the net: the one top-1 error count that runs, evaluate and the second
    opinion share. Nothing waits for the device until the caller reads the counts."""
    wrong = seen = None
    for images, labels in batches:
        logits = net(images)
        if wrong is None:
            wrong = torch.zeros(logits.shape[1], dtype=torch.float64, device=labels.device)
            seen = torch.zeros_like(wrong)
        miss = (logits.argmax(1) != labels).double()
        wrong.index_add_(0, labels, miss)
        seen.index_add_(0, labels, torch.ones_like(miss))
    if wrong is None:
        raise ValueError("no images to measure an error on")
    return wrong, seen


def error_rate(net: nn.Module, batches, reduce=None) -> float:
    """Top-1 error in percent over (images, labels) batches; `reduce` sums counts across ranks."""
    wrong, seen = misclassified(net, batches)
    counts = torch.stack([wrong.sum(), seen.sum()])
    if reduce is not None:
        counts = reduce(counts)
    return 100.0 * (counts[0] / counts[1]).item()


@torch.no_grad()
def layer_response_std(net: nn.Module, batches) -> list[dict]:
    """Std of each 3x3 layer's response (BN output, before ReLU and addition) over all its values
    on the given images: the paper's Figure 7."""
    layers = response_layers(net)
    sums = torch.zeros(len(layers), 3, dtype=torch.float64)  # count, sum, sum of squares

    def hook(i):
        def record(module, inputs, output):
            out = output.detach().double()
            sums[i] += torch.stack(
                [torch.tensor(out.numel(), dtype=torch.float64), out.sum().cpu(), out.square().sum().cpu()]
            )

        return record

    handles = [module.register_forward_hook(hook(i)) for i, (_, module, _) in enumerate(layers)]
    try:
        for images, _ in batches:
            net(images)
    finally:
        for h in handles:
            h.remove()
    mean = sums[:, 1] / sums[:, 0]
    std = (sums[:, 2] / sums[:, 0] - mean.square()).clamp_min(0).sqrt()
    return [{"layer": i + 1, "name": name, "std": std[i].item()} for i, (name, _, _) in enumerate(layers)]


class ImageClassifier(L.LightningModule):
    """Any image classifier net trained by the paper's recipe (SGD with momentum and weight decay,
    the lr divided at its milestones, the warm-up of its deepest nets), on CIFAR-10, CIFAR-100 or
    Fashion-MNIST alike."""

    def __init__(
        self,
        net: nn.Module,
        optim: OptimConfig | None = None,
        *,
        warmup: bool = False,
        log_every: int = 100,
        eval_every: int = 1000,
        channels_last: bool = True,
    ):
        super().__init__()
        self.optim = optim or OptimConfig()
        # plain values only: a checkpoint must load with weights_only=True
        self.save_hyperparameters(
            {
                "optim": asdict(self.optim),
                "warmup": warmup,
                "log_every": log_every,
                "eval_every": eval_every,
                "channels_last": channels_last,
            }
        )
        self.net = net
        self.warming_up = warmup
        # [wrong, seen] since the last log row and since the last warm-up test, on the device so the
        # step never waits for the host; saved in checkpoints, so a resumed run logs the same averages.
        self.register_buffer("train_counts", torch.zeros(2, dtype=torch.float64))
        self.register_buffer("warmup_counts", torch.zeros(2, dtype=torch.float64))
        self.register_buffer("train_loss_sum", torch.zeros((), dtype=torch.float64))  # over the train_counts steps
        self.register_buffer("device_step", torch.zeros((), dtype=torch.int64), persistent=False)
        self.register_buffer("first_nonfinite_step", torch.tensor(-1), persistent=False)
        self.register_buffer("last_finite_loss", torch.tensor(float("nan")), persistent=False)
        self.divergence: dict | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def configure_optimizers(self):
        optimizer = self.optim.sgd(self.parameters())

        def factor(step: int) -> float:
            return self.optim.lr_at(step, self.warming_up) / self.optim.lr

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_fit_start(self) -> None:
        if self.hparams.channels_last:
            self.net.to(memory_format=torch.channels_last)

    def on_train_start(self) -> None:
        self.device_step.fill_(self.global_step)

    def training_step(self, batch, batch_idx):
        images, labels = batch
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels)
        wrong = (logits.argmax(1) != labels).sum()
        for counts in (self.train_counts, self.warmup_counts) if self.warming_up else (self.train_counts,):
            counts[0] += wrong
            counts[1] += len(labels)
        self.train_loss_sum += loss.detach().double() * len(labels)
        self._watch_loss(loss.detach())
        self._lr_this_step = self.trainer.optimizers[0].param_groups[0]["lr"]
        if self.warming_up and (self.global_step + 1) % WARMUP_WINDOW == 0:
            self._warmup_test()
        return loss

    def _watch_loss(self, loss: torch.Tensor) -> None:
        finite = torch.isfinite(loss)
        self.last_finite_loss = torch.where(finite, loss.float(), self.last_finite_loss)
        first_bad = (self.first_nonfinite_step < 0) & ~finite
        self.first_nonfinite_step = torch.where(first_bad, self.device_step, self.first_nonfinite_step)
        self.device_step += 1

    def _since_last(self, *sums: torch.Tensor) -> torch.Tensor:
        """The sums accumulated since the last call (over all ranks), on the host; then zeroed."""
        total = torch.cat([s.reshape(-1) for s in sums])
        if self.trainer.world_size > 1:
            total = self.trainer.strategy.reduce(total, reduce_op="sum")
        for s in sums:
            s.zero_()
        return total.cpu()

    def _error_since_last(self, counts: torch.Tensor) -> float:
        """Percent wrong over the accumulated steps (all ranks), then start a new window."""
        wrong, seen = self._since_last(counts)
        return 100.0 * (wrong / seen).item()

    def _warmup_test(self) -> None:
        window_error = self._error_since_last(self.warmup_counts)
        if window_error < self.optim.warmup_until_train_error:
            self.warming_up = False
            self.print(
                f"warm-up over at step {self.global_step + 1}: training error {window_error:.1f}%, "
                f"lr back to {self.optim.lr}"
            )

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        step, hp = self.global_step, self.hparams
        if step % DIVERGENCE_CHECK_EVERY == 0 and self.first_nonfinite_step.item() >= 0:
            self.divergence = {
                "diverged_at_step": int(self.first_nonfinite_step),
                "last_finite_loss": self.last_finite_loss.item(),
            }
            self.print(
                f"loss is not finite since step {self.divergence['diverged_at_step']}: stopping the run as diverged"
            )
            self.trainer.should_stop = True
            return
        metrics = {}
        if step % hp.log_every == 0:
            wrong, seen, loss_sum = self._since_last(self.train_counts, self.train_loss_sum)
            metrics["train_error"], metrics["train_loss"] = 100.0 * (wrong / seen).item(), (loss_sum / seen).item()
            metrics["lr"] = self._lr_this_step
            self.log("train_error", metrics["train_error"], prog_bar=True, logger=False)
        if step % hp.eval_every == 0:
            metrics.update(self.evaluate(("val", "test")))
        if metrics:
            for logger in self.loggers:
                logger.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    @contextlib.contextmanager
    def inference(self):
        """The net in eval mode under the run's precision, back in its mode afterwards."""
        was_training = self.net.training
        self.net.eval()
        try:
            with self.trainer.precision_plugin.forward_context():
                yield self.net
        finally:
            self.net.train(was_training)

    def evaluate(self, splits) -> dict[str, float]:
        """Error (%) on each split the data has, in eval mode, sharded over DDP ranks."""
        dm, trainer = self.trainer.datamodule, self.trainer
        reduce = (lambda t: trainer.strategy.reduce(t, reduce_op="sum")) if trainer.world_size > 1 else None
        with self.inference() as net:
            return {
                f"{split}_error": error_rate(
                    net, dm.eval_batches(split, self.device, trainer.global_rank, trainer.world_size), reduce
                )
                for split in splits
                if dm.has_split(split)
            }

    def layer_responses(self) -> list[dict]:
        """Figure 7's per-layer response std on the whole test set (this rank alone)."""
        with self.inference() as net:
            return layer_response_std(net, self.trainer.datamodule.eval_batches("test", self.device))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["warming_up"] = self.warming_up
        config = getattr(self.net, "config", None)
        if config is not None:  # what rebuilds the net from this checkpoint alone (study.runs.checkpoints)
            datamodule = self.trainer.datamodule if self._trainer is not None else None
            checkpoint[RECORD] = {
                "net": config.as_dict(),
                "dataset": datamodule.config.name if datamodule is not None else None,
            }
            if datamodule is not None and datamodule.splits is not None:  # what a resume must train with too
                checkpoint[RECORD]["made"] = made_record(
                    datamodule.splits.source, self.device.type, self.trainer.precision
                )

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.warming_up = checkpoint["warming_up"]
        # Checkpoints from before the training loss was logged: its first interval starts afresh.
        if "state_dict" in checkpoint:
            checkpoint["state_dict"].setdefault("train_loss_sum", torch.zeros((), dtype=torch.float64))
