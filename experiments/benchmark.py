"""`python experiments/benchmark.py [overrides]`: the headline results, regenerated from scratch.

`experiment=benchmark` (conf/experiment/benchmark.yaml, the default here) runs the whole pipeline on the sample
data over 5 seeds (`hierl.orchestration.pipeline`), then writes `headline.md`, `.json` and `.png` into
`paths.results_dir` (default `<paths.root_dir>/docs/results`; `hierl.reports.headline`).

    python experiments/benchmark.py                          # the full benchmark, under an hour on 2 cores
    python experiments/benchmark.py debug=smoke multistage.seeds=[0,1]  # every stage at smoke budgets
"""

from __future__ import annotations

from pathlib import Path

from hierl.config.run import TrainConfig
from hierl.entrypoint import Outcome, add_default_overrides, stage_entrypoint


def benchmark(config: TrainConfig, overrides: list[str], run_dir: Path) -> Outcome:
    """The pipeline, then the headline files into `paths.results_dir` (imported once the config is
    checked: it loads torch, SB3 and Ray)."""
    from hierl.orchestration.pipeline import run_benchmark

    return run_benchmark(config, overrides, run_dir, Path(config.paths.results_dir))


main = stage_entrypoint(benchmark, title="benchmark")

if __name__ == "__main__":
    add_default_overrides(experiment="benchmark")
    main()
