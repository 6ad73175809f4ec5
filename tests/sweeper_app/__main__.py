"""`python -m sweeper_app`: minimise (x-2)^2 + (y+1)^2, reporting it at steps 0..4 as training would.

Knobs for the tests: `fail_above` raises for larger x, `nan_above` returns NaN for larger x, `objectives: 2` also
returns (x+1)^2 for a two-objective sweep, `step_seconds` sleeps before each report (so trials of parallel workers
overlap). Every job appends one JSON line (job number, trial number) to `record_file` when it is set.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.hierl_optuna_sweeper.reporting import current_trial_reporter


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | tuple[float, float]:
    x, y = float(cfg.x), float(cfg.y)
    reporter = current_trial_reporter()
    if cfg.record_file:
        hydra_cfg: Any = HydraConfig.get()
        job_num = OmegaConf.select(hydra_cfg, "job.num", default=None)
        line = {"job": job_num, "trial": reporter.trial_number if reporter else None, "x": x}
        with Path(cfg.record_file).open("a") as handle:
            handle.write(json.dumps(line) + "\n")
    if cfg.fail_above is not None and x > cfg.fail_above:
        raise RuntimeError(f"x={x} is above fail_above={cfg.fail_above}")
    value = (x - 2) ** 2 + (y + 1) ** 2
    for step in range(5):
        time.sleep(cfg.step_seconds)
        if reporter is not None:
            reporter.report(value + (4 - step), step)
    if cfg.nan_above is not None and x > cfg.nan_above:
        return math.nan
    if cfg.objectives == 2:
        return value, (x + 1) ** 2
    return value


if __name__ == "__main__":
    main()
