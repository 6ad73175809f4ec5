"""`python -m hierl.train_all [overrides]` (`hierl-train-all`): CQL per class -> PPO per class x seed -> SAC per seed.

The same `conf/train.yaml` composition as `python -m hierl.train`; the work is `hierl.orchestration.pipeline`.

    python -m hierl.train_all multistage.asset_classes=[equity,index] multistage.seeds=[0,1,2]
    python -m hierl.train_all multistage.stages=[ppo,sac] debug=smoke     # no CQL warm start
    python -m hierl.train_all multistage.distributed=true multistage.num_workers=4   # Ray tasks (hierl[ray])
    python -m hierl.train_all multistage.distributed=true multistage.ray.address=<host>:6379
    python -m hierl.train_all hydra.run.dir=<that run>                    # finish what is missing

The keys of the `multistage` group were top-level keys before (`seeds=[0,1]`, `distributed=true`, ...); those
spellings still work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hierl.train import check_extras, run_command

if TYPE_CHECKING:
    from hierl.config.run import TrainConfig
    from hierl.entrypoint import Outcome

# Where a run goes unless `hydra.run.dir` says otherwise: the pipeline spans classes and seeds, so it is not filed under
# one class and agent as `outputs/<asset>/<agent>/` would say.
RUN_DIR = "${paths.root_dir}/outputs/pipeline/${now:%Y-%m-%d_%H-%M-%S}"
USAGE = "python -m hierl.train_all [overrides]  (hierl-train-all): CQL -> PPO -> SAC over asset classes and seeds"
TITLE = "pipeline: hierarchy (SAC) per seed"


def pipeline(config: TrainConfig, overrides: list[str], run_dir: Path) -> Outcome:
    """`run_pipeline`, imported once the config is checked and its extras are there (it loads torch, SB3 and
    d3rlpy)."""
    check_extras(config)
    from hierl.orchestration.pipeline import run_pipeline

    return run_pipeline(config, overrides, run_dir)


def _hydra_main() -> None:
    """The stage entrypoint, made when it runs (it imports Hydra and polars, which `--help` does without)."""
    from hierl.entrypoint import stage_entrypoint

    stage_entrypoint(pipeline, title=TITLE)()


def main() -> None:
    """Console-script entry (`hierl-train-all`)."""
    run_command(_hydra_main, USAGE, {"hydra.run.dir": RUN_DIR})


if __name__ == "__main__":
    main()
