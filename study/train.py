"""`python -m study.train`: one run of the paper's CIFAR recipe, or a sweep of them.

    python -m study.train model=plain model.depth=56 data.root=DIR trainer.max_steps=N seed=S
    python -m study.train -m experiment=fig6_plain          # a sweep (conf/experiment/)
    python -m study.train experiment=mini debug=smoke       # any experiment, end to end in seconds

The config is conf/train.yaml with its groups; the run itself is study.training.run.train.
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from study.data.raw import DataError
from study.runs.folder import RunFolderError
from study.training.config import ConfigError, register_config
from study.training.run import RunError, train

register_config()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> str:
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return train(cfg, run_dir)
    except (ConfigError, RunFolderError, DataError, RunError) as err:
        print(f"error: {err}", file=sys.stderr)
        if multirun:
            return "refused"
        raise SystemExit(2) from None
    except Exception as err:
        if multirun:  # the run's summary says failed; the sweep goes on with the others
            print(f"failed: {run_dir}: {type(err).__name__}: {err}", file=sys.stderr)
            return "failed"
        raise


if __name__ == "__main__":
    main()
