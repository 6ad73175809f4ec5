"""`python -m hierl.train`: compose the config, train and evaluate one agent, write the run folder.

Returns the configured `optimized_metric` so Hydra sweepers can optimise it.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hierl.config.loading import to_train_config
from hierl.config.paths import config_dir
from hierl.config.store import register_configs
from hierl.entrypoint import run_job

register_configs()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    from hierl.orchestration.asset_run import train_asset_agent

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = to_train_config(cfg)
    return run_job(
        run_dir,
        config.optimized_metric,
        lambda: train_asset_agent(config, run_dir),
        title=f"{config.asset.name} / {config.agent.name} / seed {config.seed}",
    )


def main() -> None:
    """Console-script entry (`hierl-train`)."""
    _hydra_main()


if __name__ == "__main__":
    main()
