"""`python -m hierl.train`: compose the config, train and evaluate one agent, write the run folder.

Returns the configured `optimized_metric` so Hydra sweepers can optimise it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hierl.config.moved_keys import rename_argv
from hierl.config.paths import config_dir
from hierl.config.run import TrainConfig
from hierl.config.stages import cql_run, ppo_run, sac_run
from hierl.config.store import register_configs
from hierl.entrypoint import Outcome, add_default_overrides, run_job, typed_config
from hierl.errors import ConfigError

register_configs()


def job_for(config: TrainConfig, run_dir: Path) -> Callable[[], Outcome]:
    """The stage the `agent` option trains: PPO per asset class, the SAC meta-controller, or CQL pretraining.

    The config is narrowed to the stage's typed config here, once, inside the job, so an agent and env that do
    not go together end the run like any other config mistake (one line, recorded in run_state.json). Each
    stage's module (torch, Stable-Baselines3, d3rlpy) is imported only here, after the config was checked.
    """
    name = config.agent.name
    if name == "ppo":
        from hierl.orchestration.asset_run import train_asset_agent

        return lambda: train_asset_agent(ppo_run(config), run_dir)
    if name == "sac":
        from hierl.orchestration.hierarchy_run import train_meta_controller

        return lambda: train_meta_controller(sac_run(config), run_dir)
    if name == "cql":
        from hierl.orchestration.cql_run import pretrain_cql

        return lambda: pretrain_cql(cql_run(config), run_dir)
    raise ConfigError(f"agent={name} has no training stage; use agent=ppo, sac or cql")


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = typed_config(cfg)
    from hierl.evaluation.report import run_title  # after the config check: the report imports the metrics

    title = run_title(config.agent.name, config.asset.name, config.seed, config.multistage.asset_classes)
    return run_job(run_dir, config.optimized_metric, job_for(config, run_dir), title=title)


def main() -> None:
    """Console-script entry (`hierl-train`)."""
    rename_argv()
    _hydra_main()


def main_with_defaults(**defaults: str) -> None:
    """`main` with overrides the command line has not set itself (for the thin scripts in `experiments/`)."""
    add_default_overrides(**defaults)
    main()


if __name__ == "__main__":
    main()
