"""`python experiments/train_all_agents.py [overrides]`: CQL per class -> PPO per class x seed -> SAC per seed.

The same `conf/train.yaml` composition as `python -m hierl.train`; the work is `hierl.orchestration.pipeline`.

    python experiments/train_all_agents.py multistage.asset_classes=[equity,index] multistage.seeds=[0,1,2]
    python experiments/train_all_agents.py multistage.stages=[ppo,sac] debug=smoke     # no CQL warm start
    python experiments/train_all_agents.py multistage.distributed=true multistage.num_workers=4   # Ray tasks
    python experiments/train_all_agents.py multistage.distributed=true multistage.ray.address=<host>:6379
    python experiments/train_all_agents.py hydra.run.dir=<that run>                    # finish what is missing

The keys of the `multistage` group were top-level keys before (`seeds=[0,1]`, `distributed=true`, ...); those
spellings still work.
"""

from __future__ import annotations

from pathlib import Path

from hierl.config.run import TrainConfig
from hierl.entrypoint import Outcome, stage_entrypoint


def pipeline(config: TrainConfig, overrides: list[str], run_dir: Path) -> Outcome:
    """`run_pipeline`, imported once the config is checked (it loads torch, SB3 and d3rlpy)."""
    from hierl.orchestration.pipeline import run_pipeline

    return run_pipeline(config, overrides, run_dir)


main = stage_entrypoint(pipeline, title="pipeline: hierarchy (SAC) per seed")

if __name__ == "__main__":
    main()
