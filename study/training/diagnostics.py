"""Forward and backward signals through training (section 4.1's argument that plain nets do not
degrade because signals vanish): every `diag_every` steps, on one fixed training mini-batch (the
same images each time, spread over the training set, no augmentation), each 3x3 layer's response
std (Figure 7's quantity, in train mode on that batch: its BN output before ReLU and addition,
or its conv output where no BN follows, study.paper.response_point) and the L2 norm of its
weight's gradient of that batch's loss. Written to `diagnostics.csv`: step, layer, name (the
module measured), response_std, grad_norm.

Measuring changes nothing that is trained: the gradients are computed with torch.autograd.grad
(the optimizer's .grad stays as it was), BN's running statistics are put back, and nothing random
is drawn.
"""

import csv
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from study.fileio import trim_rows
from study.nets import response_layers
from study.runs.layout import DIAGNOSTICS, DIAGNOSTICS_COLUMNS

FILE = DIAGNOSTICS
COLUMNS = DIAGNOSTICS_COLUMNS  # what is written here is what the report reads


def measure(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[dict]:
    """Per 3x3 layer, in forward order: response std and weight-gradient norm on this batch."""
    layers = response_layers(net)
    weights = [conv.weight for _, _, conv in layers]
    saved = {name: buffer.clone() for name, buffer in net.named_buffers()}
    stds: list[torch.Tensor] = []
    handles = [
        module.register_forward_hook(lambda m, i, out: stds.append(out.detach().float().std()))
        for _, module, _ in layers
    ]
    was_training = net.training
    net.train()
    try:
        loss = F.cross_entropy(net(images), labels)
        grads = torch.autograd.grad(loss, weights)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
        with torch.no_grad():  # BN's running statistics as they were
            for name, buffer in net.named_buffers():
                buffer.copy_(saved[name])
    norms = torch.stack([g.detach().float().norm() for g in grads]).cpu().tolist()
    return [
        {"layer": i + 1, "name": name, "response_std": float(std), "grad_norm": norm}
        for i, ((name, _, _), std, norm) in enumerate(zip(layers, torch.stack(stds).cpu().tolist(), norms))
    ]


def trim(run_dir: Path, before_step: int) -> None:
    """Keep the rows measured before `before_step`: a resumed run measures that step again."""
    trim_rows(Path(run_dir) / FILE, lambda r: r.get("step", "").isdigit() and int(r["step"]) < before_step)


class Diagnostics(L.Callback):
    """Measures every `every` steps (step 0 included) and at the end of training."""

    def __init__(self, run_dir: Path, every: int, batch_size: int):
        self.path, self.every, self.batch_size = Path(run_dir) / FILE, every, batch_size
        self._measured_step = -1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step % self.every == 0:
            self.record(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if pl_module.divergence is None and trainer.global_step >= trainer.max_steps:
            self.record(trainer, pl_module)

    def record(self, trainer, pl_module) -> None:
        step = trainer.global_step
        if step == self._measured_step or not trainer.is_global_zero:
            return
        self._measured_step = step
        images, labels = trainer.datamodule.fixed_training_batch(self.batch_size, pl_module.device)
        if pl_module.hparams.get("channels_last"):
            images = images.contiguous(memory_format=torch.channels_last)
        with trainer.precision_plugin.forward_context():
            rows = measure(pl_module.net, images, labels)
        new = not self.path.is_file()
        with open(self.path, "a", newline="") as f:  # the csv module's format, as metrics.csv and trim_rows
            writer = csv.writer(f)
            if new:
                writer.writerow(COLUMNS)
            writer.writerows(
                [step, r["layer"], r["name"], f"{r['response_std']:.6g}", f"{r['grad_norm']:.6g}"] for r in rows
            )
