"""`python experiments/train_all_agents.py [overrides]`: CQL per class -> PPO per class x seed -> SAC per seed.

The same `conf/train.yaml` composition as `python -m hierl.train`; the work is `hierl.orchestration.pipeline`.

    python experiments/train_all_agents.py asset_classes=[equity,index] seeds=[0,1,2]
    python experiments/train_all_agents.py stages=[ppo,sac] debug=smoke               # no CQL warm start
    python experiments/train_all_agents.py distributed=true num_workers=4             # units as Ray tasks
    python experiments/train_all_agents.py distributed=true ray.address=<host>:6379   # on an existing cluster
    python experiments/train_all_agents.py hydra.run.dir=<that run>                   # finish what is missing
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hierl.config.loading import to_train_config
from hierl.config.paths import config_dir
from hierl.config.store import register_configs
from hierl.entrypoint import run_job
from hierl.orchestration.pipeline import run_pipeline

register_configs()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = to_train_config(cfg)
    overrides = list(HydraConfig.get().overrides.task)
    return run_job(
        run_dir,
        config.optimized_metric,
        lambda: run_pipeline(config, overrides, run_dir),
        title="pipeline: hierarchy (SAC) per seed",
    )


if __name__ == "__main__":
    main()
