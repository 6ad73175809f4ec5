"""`python -m hierl.walk_forward [overrides]` (`hierl-walk-forward`): walk-forward research, one out-of-sample
record stitched from every fold's test block (see docs/walk_forward.md and `hierl.orchestration.walk_forward`).

    python -m hierl.walk_forward                                   # 4 rolling folds, PPO per class -> SAC
    python -m hierl.walk_forward walk_forward.folds=6 walk_forward.scheme=expanding walk_forward.seeds=[0,1,2]
    python -m hierl.walk_forward walk_forward.stages=[ppo] walk_forward.asset_classes=[equity]
    python -m hierl.walk_forward multistage.distributed=true multistage.num_workers=4   # units as Ray tasks
    python -m hierl.walk_forward hydra.run.dir=<that run> [resume=true]             # finish what is missing

The same `conf/train.yaml` composition as `python -m hierl.train`, with the `walk_forward` group; each unit takes
the command line's overrides as the pipeline's units do (`multistage.stage_overrides.<stage>` included). Runs go to
`outputs/walk_forward/<date_time>/` unless `hydra.run.dir` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hierl.train import check_extras, run_command

if TYPE_CHECKING:
    from hierl.config.run import TrainConfig
    from hierl.entrypoint import Outcome

USAGE = (
    "python -m hierl.walk_forward [overrides]  (hierl-walk-forward): train, select and test every fold, one "
    "out-of-sample record"
)
TITLE = "walk-forward"
RUN_DIR = "${paths.root_dir}/outputs/walk_forward/${now:%Y-%m-%d_%H-%M-%S}"


def walk_forward(config: TrainConfig, overrides: list[str], run_dir: Path) -> Outcome:
    """The walk-forward run, imported once the config is checked and its extras are there (it loads torch, SB3
    and Ray)."""
    check_extras(config)
    from hierl.orchestration.walk_forward import run_walk_forward

    return run_walk_forward(config, overrides, run_dir)


def _hydra_main() -> None:
    """The stage entrypoint, made when it runs (it imports Hydra and polars, which `--help` does without)."""
    from hierl.entrypoint import stage_entrypoint

    stage_entrypoint(walk_forward, title=TITLE)()


def main() -> None:
    """Console-script entry (`hierl-walk-forward`), and `experiments/walk_forward.py`."""
    run_command(_hydra_main, USAGE, {"hydra.run.dir": RUN_DIR})


if __name__ == "__main__":
    main()
