"""Datasets as uint8 tensors on the training device, with the paper's augmentation done batch-wise.

The training stream is a pure function of (seed, step): step k takes images k*B .. (k+1)*B-1 of an
endless concatenation of seeded permutations, and its crop offsets and flips come from a generator
seeded with (seed, k). A run resumed at step k therefore sees exactly the batches an uninterrupted
run would have seen, and the DataLoader only carries a few hundred integers per step.

Preprocessing (section 4.2): pixels scaled to [0, 1], the per-pixel mean of the training images in
use subtracted, then 4 zero pixels padded on each side (zero = the mean image), a random crop of
the original size and a random horizontal flip, each image with its own offset and flip.
Evaluation uses the original images.
"""

from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset

from study import paper
from study.data.raw import DataError
from study.data.sources import DATASETS, load_dataset


@dataclass
class ImageSplits:
    train_images: torch.Tensor  # uint8 [N, C, H, W]
    train_labels: torch.Tensor  # int64 [N]
    val_images: torch.Tensor | None
    val_labels: torch.Tensor | None
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: dict  # which copy of the data: layout, folder, fingerprints (study.data.sources)
    num_classes: int


def _as_tensors(images_nhwc: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(images_nhwc)).permute(0, 3, 1, 2).contiguous()
    return images, torch.from_numpy(np.asarray(labels, dtype=np.int64))


def load_splits(
    name: str,
    root: str,
    download: bool,
    val_split: int,
    train_subset: int | None,
    verify_checksums: bool = True,
    expected_counts=None,
) -> ImageSplits:
    """The images a run uses. The validation split and the training subset are a fixed random
    sample (seed 0), the same for every run, so runs with different seeds stay comparable."""
    raw = load_dataset(name, root, download, verify_checksums, expected_counts)
    (train_x, train_y), (test_x, test_y) = (
        _as_tensors(raw.train_images, raw.train_labels),
        _as_tensors(raw.test_images, raw.test_labels),
    )
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))
    if not 0 <= val_split < len(train_x):
        raise DataError(f"data.val_split={val_split} must be between 0 and {len(train_x) - 1} for {name}")
    val_idx, train_idx = order[:val_split].sort().values, order[val_split:]
    if train_subset:
        if train_subset > len(train_idx):
            raise DataError(f"data.train_subset={train_subset} exceeds the {len(train_idx)} training images")
        train_idx = train_idx[:train_subset]
    train_idx = train_idx.sort().values
    val = (train_x[val_idx], train_y[val_idx]) if val_split else (None, None)
    return ImageSplits(train_x[train_idx], train_y[train_idx], *val, test_x, test_y, raw.source, raw.num_classes)


# ---------------------------------------------------------------------------------------------
# The training stream and the batched augmentation


class StepBatches(IterableDataset):
    """Endless training batches of indices and augmentation choices, starting at `start_step()`.
    In DDP each rank takes its own slice of the global batch."""

    def __init__(
        self, num_images: int, batch_size: int, seed: int, pad: int, start_step, rank: int = 0, world: int = 1
    ):
        self.num_images, self.batch_size, self.seed, self.pad = num_images, batch_size, seed, pad
        self.start_step, self.rank, self.world = start_step, rank, world

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.num_images, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))

    def batch_at(self, step: int, cache: dict) -> dict[str, torch.Tensor]:
        start, parts = step * self.batch_size, []
        while sum(len(p) for p in parts) < self.batch_size:
            epoch, offset = divmod(start, self.num_images)
            if cache.get("epoch") != epoch:
                cache.update(epoch=epoch, perm=self._permutation(epoch))
            take = min(self.batch_size - sum(len(p) for p in parts), self.num_images - offset)
            parts.append(cache["perm"][offset : offset + take])
            start += take
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        n = self.batch_size
        offsets = torch.randint(0, 2 * self.pad + 1, (2, n), generator=g)
        flip = torch.randint(0, 2, (n,), generator=g).bool()
        mine = slice(self.rank * n // self.world, (self.rank + 1) * n // self.world)
        return {"index": torch.cat(parts)[mine], "dy": offsets[0, mine], "dx": offsets[1, mine], "flip": flip[mine]}

    def __iter__(self):
        step, cache = self.start_step(), {}
        while True:
            yield self.batch_at(step, cache)
            step += 1


def spread_indices(n: int, count: int, device=None) -> torch.Tensor:
    """`count` of the indices 0..n-1 spread evenly over the whole range (i * n // count): all of
    them when count >= n. Splits stored class by class (image folders) stay balanced."""
    if count >= n:
        return torch.arange(n, device=device)
    return torch.arange(count, device=device) * n // count


def normalize(images: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255).sub_(mean)


def augment(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by `pad`, crop back to the original size at offsets (dy, dx), mirror where `flip`.
    One gather for the whole batch; the result is channels-last in memory."""
    b, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = dy[:, None] + torch.arange(h, device=images.device)
    cols = torch.arange(w, device=images.device).expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


@dataclass
class DataConfig:
    """Which images a run trains and is measured on, and how they are batched: the config's `data`
    node, ImageDataModule's arguments. The defaults are CIFAR-10 under the paper's recipe."""

    name: str = "cifar10"  # one of study.data.sources.DATASETS
    root: str = "data"  # the folder that holds the dataset (docs/data.md lists the layouts)
    download: bool = True  # fetch it into root when no copy is there (CIFAR only)
    verify_checksums: bool = True  # false: accept pickles whose md5s differ (a re-pickled copy); recorded
    expected_counts: list[int] | None = None  # training and test images a complete copy has; None: any
    val_split: int = 0  # images held out of training for validation; 0: none (the paper's reported mode)
    train_subset: int | None = None  # N: train on a fixed random N-image subset (CPU-scale runs)
    batch_size: int = paper.RECIPE["batch_size"]  # the global mini-batch, split over devices
    eval_batch_size: int = 1000
    eval_subset: int | None = None  # N: measure errors on N images spread over each split (smoke runs)
    pad: int = paper.RECIPE["pad"]  # pixels of zero padding before the random crop

    def __post_init__(self):
        if self.name not in DATASETS:
            raise ValueError(
                f"name={self.name!r} is unknown: choose one of {', '.join(DATASETS)} "
                f"({' or '.join(f'data={d}' for d in DATASETS)})"
            )
        ranges = (
            ("batch_size", self.batch_size > 0, "a positive whole number"),
            ("eval_batch_size", self.eval_batch_size > 0, "a positive whole number"),
            ("val_split", self.val_split >= 0, "0 (no validation split) or a positive number of images"),
            (
                "train_subset",
                self.train_subset is None or self.train_subset > 0,
                "a positive whole number or null (all images)",
            ),
            (
                "eval_subset",
                self.eval_subset is None or self.eval_subset > 0,
                "a positive whole number or null (all images)",
            ),
            ("pad", self.pad >= 0, "zero or a positive number of pixels"),
        )
        for key, ok, allowed in ranges:
            if not ok:
                raise ValueError(f"{key}={getattr(self, key)!r} must be {allowed}")


class ImageDataModule(L.LightningDataModule):
    """A dataset of study.data.sources held whole on the training device."""

    def __init__(self, config: DataConfig, seed: int = 0, splits: ImageSplits | None = None):
        super().__init__()
        self.config, self.seed = config, seed
        self.splits = splits  # given images (the benchmark's), or None to load from root
        self._device_cache: dict[str, torch.Tensor] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = load_splits(
                self.config.name,
                self.config.root,
                self.config.download,
                self.config.val_split,
                self.config.train_subset,
                self.config.verify_checksums,
                self.config.expected_counts,
            )
        if self.config.batch_size > len(self.splits.train_images):
            raise DataError(
                f"data.batch_size={self.config.batch_size} is larger than the {len(self.splits.train_images):,} "
                "training images in use; choose a smaller batch or a larger data.train_subset"
            )
        self.mean = self.splits.train_images.float().mean(0).div_(255)

    @property
    def in_channels(self) -> int:
        return self.splits.train_images.shape[1]

    @property
    def num_classes(self) -> int:
        return self.splits.num_classes

    def on_device(self, key: str, device: torch.device) -> torch.Tensor:
        """A split's tensor, moved to `device` once and kept there."""
        if key not in self._device_cache or self._device_cache[key].device != device:
            source = self.mean if key == "mean" else getattr(self.splits, key)
            self._device_cache[key] = source.to(device)
        return self._device_cache[key]

    def train_stream(self, start_step, rank: int = 0, world: int = 1) -> StepBatches:
        return StepBatches(
            len(self.splits.train_images), self.config.batch_size, self.seed, self.config.pad, start_step, rank, world
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        stream = self.train_stream(lambda: trainer.global_step, trainer.global_rank, trainer.world_size)
        return DataLoader(stream, batch_size=None, num_workers=0)

    def training_batch(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented float images and labels for one step's indices, on the indices' device."""
        device = batch["index"].device
        images = self.on_device("train_images", device)[batch["index"]]
        x = augment(
            normalize(images, self.on_device("mean", device)), batch["dy"], batch["dx"], batch["flip"], self.config.pad
        )
        return x, self.on_device("train_labels", device)[batch["index"]]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        return self.training_batch(batch) if isinstance(batch, dict) else batch

    def eval_batches(self, split: str, device: torch.device, rank: int = 0, world: int = 1, normalized: bool = True):
        """(images, labels) of a split ("train", "val" or "test") without augmentation, in large
        batches; in DDP each rank takes every world-th image. normalized=False gives the uint8
        images as stored, for a net that carries its own preprocessing."""
        images, labels = self.on_device(f"{split}_images", device), self.on_device(f"{split}_labels", device)
        mean = self.on_device("mean", device)
        mine = spread_indices(len(images), self.config.eval_subset or len(images), device)[rank::world]
        for chunk in mine.split(self.config.eval_batch_size):
            yield (normalize(images[chunk], mean) if normalized else images[chunk]), labels[chunk]

    def fixed_training_batch(self, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """`size` training images spread evenly over the split (a copy stored class by class gives
        every class), normalized, without augmentation: the same batch every time (the
        diagnostics' probe)."""
        chosen = spread_indices(len(self.splits.train_images), size, device)
        images = self.on_device("train_images", device)[chosen]
        return normalize(images, self.on_device("mean", device)), self.on_device("train_labels", device)[chosen]

    def has_split(self, split: str) -> bool:
        return getattr(self.splits, f"{split}_images") is not None
