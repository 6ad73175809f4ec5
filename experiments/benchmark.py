"""`python experiments/benchmark.py [overrides]`: the headline results, regenerated from scratch.

`experiment=benchmark` (conf/experiment/benchmark.yaml) runs the whole pipeline on the sample data over 5 seeds
(`hierl.orchestration.pipeline`), then writes `docs/results/headline.md`, `.json` and `.png` under
`paths.root_dir` (`hierl.evaluation.headline`).

    python experiments/benchmark.py                          # the full benchmark, under an hour on 2 cores
    python experiments/benchmark.py debug=smoke seeds=[0,1]  # every stage at smoke budgets
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hierl.config.loading import to_train_config
from hierl.config.paths import config_dir
from hierl.config.store import register_configs
from hierl.entrypoint import run_job
from hierl.orchestration.pipeline import run_benchmark

register_configs()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = to_train_config(cfg)
    overrides = list(HydraConfig.get().overrides.task)
    results_dir = Path(config.paths.root_dir) / "docs" / "results"
    return run_job(
        run_dir,
        config.optimized_metric,
        lambda: run_benchmark(config, overrides, run_dir, results_dir),
        title="benchmark",
    )


if __name__ == "__main__":
    if not any(arg.split("=", 1)[0].lstrip("+~") == "experiment" for arg in sys.argv[1:]):
        sys.argv.append("experiment=benchmark")
    main()
