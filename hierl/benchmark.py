"""`python -m hierl.benchmark [overrides]` (`hierl-benchmark`): the headline results, regenerated from scratch.

`experiment=benchmark` (conf/experiment/benchmark.yaml, the default here) runs the whole pipeline on the sample
data over 5 seeds (`hierl.orchestration.pipeline`) as Ray tasks (`pip install 'hierl[ray]'`, or
`multistage.distributed=false`), then writes `headline.md`, `.json` and `.png` into `paths.results_dir` (default
`<paths.root_dir>/docs/results`; `hierl.reports.headline`).

    python -m hierl.benchmark                                      # the full benchmark, under an hour on 2 cores
    python -m hierl.benchmark debug=smoke multistage.seeds=[0,1]   # every stage at smoke budgets
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hierl.train import check_extras, run_command

if TYPE_CHECKING:
    from hierl.config.run import TrainConfig
    from hierl.entrypoint import Outcome

USAGE = "python -m hierl.benchmark [overrides]  (hierl-benchmark): the headline results over 5 seeds"
TITLE = "benchmark"


def benchmark(config: TrainConfig, overrides: list[str], run_dir: Path) -> Outcome:
    """The pipeline, then the headline files into `paths.results_dir` (imported once the config is checked and
    its extras are there: it loads torch, SB3 and Ray)."""
    check_extras(config)
    from hierl.orchestration.pipeline import run_benchmark

    return run_benchmark(config, overrides, run_dir, Path(config.paths.results_dir))


def _hydra_main() -> None:
    """The stage entrypoint, made when it runs (it imports Hydra and polars, which `--help` does without)."""
    from hierl.entrypoint import stage_entrypoint

    stage_entrypoint(benchmark, title=TITLE)()


def main() -> None:
    """Console-script entry (`hierl-benchmark`)."""
    run_command(_hydra_main, USAGE, {"experiment": "benchmark"})


if __name__ == "__main__":
    main()
