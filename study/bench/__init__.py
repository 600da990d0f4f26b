"""Measurements of the harness itself, each a command:

    python -m study.bench                   throughput of the harness against a bare loop and a
                                            DataLoader pipeline (`make bench`; throughput.py)
    python -m study.bench.step              one training step: precision, torch.compile, threads
                                            (`make bench-step`)
    python -m study.bench.data DIR          load time of each CIFAR-10 layout (`make bench-data`)
    python -m study.bench.dataloader_check  the recipe through the common torchvision DataLoader
                                            pipeline: a second opinion on the harness

docs/PERFORMANCE.md holds what they measured.
"""
