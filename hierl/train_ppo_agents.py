"""`python -m hierl.train_ppo_agents [overrides]` (`hierl-train-ppo-agents`): one PPO agent per asset class (and
seed), then the signals.

Every class is composed once, exactly as `python -m hierl.train asset=<class>` with the same overrides (so the
class's own agent, env, reward and safety settings apply), and each seed's unit is a copy of that config with its
seed. Units train in `<run>/ppo/<class>/` (`.../seed_<s>/` with several `multistage.seeds`), and each selected
model's deterministic actions on every split are written to `<run>/signals.parquet`. With several seeds,
`<run>/ppo/<class>/seeds_summary.json` holds the spread of the test Sharpe ratio over seeds (of the validation one
with `evaluate_test=false`), and the signals come from the seed with the best validation Sharpe ratio (never chosen
on test). The work is
`hierl.orchestration.ppo_stage`; `multistage.distributed=true multistage.num_workers=<n>` runs the (class, seed)
units as Ray tasks (`pip install 'hierl[ray]'`).

    python -m hierl.train_ppo_agents data=synthetic multistage.asset_classes=[equity,commodity] \\
        multistage.seeds=[0,1,2]
    python -m hierl.train_ppo_agents hydra.run.dir=<that run>               # reuse its finished units
    python -m hierl.train_ppo_agents resume=true hydra.run.dir=<that run>   # and continue interrupted ones
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from hierl.train import check_extras, run_command

if TYPE_CHECKING:
    from hierl.config.run import TrainConfig
    from hierl.entrypoint import Outcome

# Where a run goes unless `hydra.run.dir` says otherwise: the PPO stage spans classes and seeds, so it is not filed
# under one class and agent as `outputs/<asset>/<agent>/` would say.
RUN_DIR = "${paths.root_dir}/outputs/ppo_agents/${now:%Y-%m-%d_%H-%M-%S}"
USAGE = (
    "python -m hierl.train_ppo_agents [overrides]  (hierl-train-ppo-agents): one PPO agent per asset class and "
    "seed, then signals.parquet"
)
TITLE = "PPO agents per asset class"


def train_ppo_agents(outer: TrainConfig, overrides: list[str], run_dir: Path) -> Outcome:
    """Every (class, seed) job, then the seed summaries and the signals table.

    The PPO stage (torch, SB3) is imported here, once the config is checked and its extras are there."""
    check_extras(outer)
    from hierl.errors import UserError
    from hierl.orchestration.asset_run import RunOutcome
    from hierl.orchestration.ppo_stage import (
        compose_ppo_config,
        execution_config,
        passed_on,
        plan_ppo_jobs,
        resolve_classes,
        resolve_seeds,
        train_ppo_stage,
    )
    from hierl.orchestration.signals import SIGNALS_FILE
    from hierl.run.folder import RunFolder

    base = passed_on(overrides)
    # Each class's YAML is composed once under the user's overrides; every seed's unit is a copy of it.
    class_cfgs = {c: compose_ppo_config([*base, f"asset={c}"]) for c in resolve_classes(outer)}
    jobs = plan_ppo_jobs(class_cfgs, resolve_seeds(outer), run_dir / "ppo")
    result = train_ppo_stage(jobs, run_dir / "ppo", run_dir / SIGNALS_FILE, execution_config(outer))
    if result.errors:
        raise UserError("PPO failed for " + "; ".join(f"{name}: {error}" for name, error in result.errors.items()))
    metrics = dict(result.metrics)
    # The sweep objective: the optimised metric averaged over every class and seed (not the best seed's).
    values = [m.get(outer.optimized_metric, math.nan) for m in result.per_job.values()]
    metrics[outer.optimized_metric] = sum(values) / len(values)
    RunFolder(run_dir).write_metrics(metrics)
    return RunOutcome(run_dir, metrics)


def _hydra_main() -> None:
    """The stage entrypoint, made when it runs (it imports Hydra and polars, which `--help` does without)."""
    from hierl.entrypoint import stage_entrypoint

    stage_entrypoint(train_ppo_agents, title=TITLE)()


def main() -> None:
    """Console-script entry (`hierl-train-ppo-agents`)."""
    run_command(_hydra_main, USAGE, {"hydra.run.dir": RUN_DIR})


if __name__ == "__main__":
    main()
