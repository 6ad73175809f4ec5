"""`python -m hierl.benchmark [overrides]` (`hierl-benchmark`): the headline results, regenerated from scratch.

`experiment=benchmark` (conf/experiment/benchmark.yaml, the default here) runs a walk-forward of the whole
hierarchy on the sample data (`hierl.orchestration.walk_forward`: every fold trains PPO per class and SAC on
out-of-fold signals, selects on its validation block and tests once on its test block), as Ray tasks
(`pip install 'hierl[ray]'`, or `multistage.distributed=false`), then writes `headline.md`, `.json` and `.png` from
its out-of-sample record into `paths.results_dir` (default `<paths.root_dir>/docs/results`; `hierl.reports.headline`).

    python -m hierl.benchmark                                          # the full benchmark
    python -m hierl.benchmark debug=smoke walk_forward.seeds=[0]       # every stage at smoke budgets
    python -m hierl.benchmark hydra.run.dir=<that run>                 # finish an interrupted one
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from hierl.train import check_extras, run_command

if TYPE_CHECKING:
    from hierl.config.run import TrainConfig
    from hierl.entrypoint import Outcome

USAGE = "python -m hierl.benchmark [overrides]  (hierl-benchmark): the headline results, out of sample"
TITLE = "benchmark"
NOTES = (
    "Each seed s is a whole walk-forward: in every fold, every class's PPO agent of seed s, then a SAC "
    "meta-controller of seed s trained on out-of-fold PPO signals (an inner walk-forward inside the fold's training "
    "block, so no signal SAC learns from comes from a model that saw its date). Budgets are those of "
    "`conf/experiment/benchmark.yaml`, `conf/agent/ppo.yaml` and `conf/agent/sac.yaml`, set for time; every model "
    "was selected on its fold's validation block and no setting was chosen by looking at a test block, which each "
    "fold touches once. The sleeves alone (`sleeve_<class>`) are the PPO agents' own positions; the allocators "
    "(equal weight, inverse volatility, HRP, risk parity, min CVaR) allocate across the same sleeves, refitted "
    "monthly on past returns; `buy_and_hold_SP500` holds the S&P 500 index alone."
)


def benchmark(config: TrainConfig, overrides: list[str], run_dir: Path) -> Outcome:
    """The walk-forward, then the headline files (imported once the config is checked and its extras are there:
    it loads torch, SB3 and Ray). The headline is written from the seeds that finished even when a unit failed."""
    check_extras(config)
    from hierl.errors import UnitsFailed
    from hierl.orchestration.walk_forward import run_walk_forward
    from hierl.reports.headline import build_headline, write_headline
    from hierl.run.folder import RunFolder
    from hierl.tracking.logging import get_logger

    command = shlex.join(["python", "-m", "hierl.benchmark", *overrides])
    failure: UnitsFailed | None = None
    try:
        outcome: Outcome | None = run_walk_forward(config, overrides, run_dir)
    except UnitsFailed as error:
        outcome, failure = None, error
    if failure is not None and not RunFolder(run_dir).oos_backtest_path.is_file():
        raise failure  # no seed finished: there is no record to report
    notes = NOTES if failure is None else f"{NOTES}\n\nUnits that did not finish: {failure}"
    written = write_headline(build_headline(run_dir), Path(config.paths.results_dir), command, notes)
    get_logger("benchmark").info("headline written: %s", ", ".join(str(path) for path in written))
    if failure is not None:
        raise failure
    assert outcome is not None
    return outcome


def _hydra_main() -> None:
    """The stage entrypoint, made when it runs (it imports Hydra and polars, which `--help` does without)."""
    from hierl.entrypoint import stage_entrypoint

    stage_entrypoint(benchmark, title=TITLE)()


def main() -> None:
    """Console-script entry (`hierl-benchmark`)."""
    run_command(_hydra_main, USAGE, {"experiment": "benchmark"})


if __name__ == "__main__":
    main()
