"""The data pipeline most public reproductions use, as a yardstick for ours (`make bench`'s column
(c), `study.bench.dataloader_check`): PIL images, torchvision's RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor and a per-channel Normalize, served by a shuffling DataLoader with
one worker process per core.
"""

import os

import torch

#: The per-channel mean and std most reproductions normalise CIFAR-10 with.
CHANNEL_MEAN, CHANNEL_STD = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)


class ArrayImages(torch.utils.data.Dataset):
    """uint8 images [N, C, H, W] served as PIL images, exactly as torchvision's CIFAR10.__getitem__ does."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images.permute(0, 2, 3, 1).numpy(), labels.numpy(), transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def transform(train: bool):
    """The training transform (crop, flip, then normalise) or the test one (normalise only)."""
    from torchvision import transforms

    normalise = [transforms.ToTensor(), transforms.Normalize(CHANNEL_MEAN, CHANNEL_STD)]
    augment = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if train else []
    return transforms.Compose(augment + normalise)


def loader(dataset, batch_size: int, train: bool, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """Shuffled, whole batches only and persistent workers for training; in order for testing."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train,
        num_workers=os.cpu_count() or 1,
        pin_memory=pin_memory,
        persistent_workers=train,
    )
