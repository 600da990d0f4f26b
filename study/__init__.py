"""study: the degradation-problem study of He et al. (2015), reproduced on CIFAR-10.

Layers, each importing only from those above it in this list:

    paper.py       the paper's numbers, depths, grids and net names (the only place they are written)
    fileio.py      atomic writes, strict JSON, CSV rewrites
    nets.py        the plain and residual nets (NetConfig, build_net), parameter and MAC counts
    data/          raw.py (what a loader returns and checks), cache.py (the decode cache),
                   cifar.py and fashion_mnist.py (the loaders), sources.py (the loaders by name,
                   a copy described); stream.py: device-side batches and augmentation;
                   common_pipeline.py: the DataLoader yardstick
    runs/          what a run leaves on disk: summary.py (its schema), identity.py (folder and
                   study), checkpoints.py, lock.py, provenance.py
    training/      config.py (resolvers, refusals), recipe.py (the LightningModule), callbacks.py,
                   diagnostics.py, loggers.py, sweep.py (Hydra's sweep callback), run.py (one run)
    results/       collect.py, stats.py, claims.py, tables.py, figures.py, publish.py

and, on top, the commands: train, report, evaluate, reproduce, bench, bench_step, bench_data,
dataloader_check (`python -m study.<command>`).
"""
