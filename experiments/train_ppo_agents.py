"""`python experiments/train_ppo_agents.py [overrides]`: one PPO agent per asset class (and seed), then the signals.

Every class is composed exactly as `python -m hierl.train asset=<class>` with the same overrides (so the class's
own agent, env, reward and safety settings apply), trained in `<run>/ppo/<class>/` (`.../seed_<s>/` with several
`seeds`), and its selected model's deterministic actions on every split are written to `<run>/signals.parquet`.
With several seeds, `<run>/ppo/<class>/seeds_summary.json` holds the spread of the test Sharpe ratio over seeds,
and the signals come from the seed with the best validation Sharpe ratio (never chosen on test).

    python experiments/train_ppo_agents.py data=synthetic asset_classes=[equity,commodity] seeds=[0,1,2]
    python experiments/train_ppo_agents.py resume=true hydra.run.dir=<that run>   # finish an interrupted run
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from stable_baselines3 import PPO

from hierl.config.loading import to_train_config
from hierl.config.paths import config_dir
from hierl.config.run import TrainConfig
from hierl.config.store import register_configs
from hierl.data.pipeline import available_asset_classes
from hierl.entrypoint import run_job
from hierl.errors import ConfigError
from hierl.orchestration.asset_run import BEST_MODEL_FILE, RunOutcome, check_trainable, load_run_market
from hierl.orchestration.asset_run import train_asset_agent as train_one
from hierl.orchestration.policy_evaluation import read_metrics
from hierl.orchestration.seeds import summarise_seeds
from hierl.orchestration.signals import SIGNALS_FILE, signals_frame, write_signals
from hierl.tracking.checkpoints import CHECKPOINT_DIR, latest_checkpoint
from hierl.tracking.files import write_json
from hierl.tracking.logging import get_logger
from hierl.tracking.run_state import read_state

register_configs()
log = get_logger("ppo_agents")

# Run-level keys this script sets per job; the user's values for them are not passed on to each class.
PER_JOB_KEYS = frozenset({"asset", "seed", "seeds", "asset_classes"})
SEED_METRIC = "test/sharpe"
SELECTION_METRIC = "val/sharpe"


@dataclass(frozen=True)
class Job:
    """One (asset class, seed) training run and its folder."""

    asset_class: str
    seed: int
    cfg: TrainConfig
    run_dir: Path


def passed_on(overrides: list[str]) -> list[str]:
    """The user's command-line overrides minus the keys set per job."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in PER_JOB_KEYS]


def plan_jobs(outer: TrainConfig, overrides: list[str], run_dir: Path) -> list[Job]:
    """Compose and check every job's config before anything trains, so a bad class or key fails at once."""
    available = available_asset_classes(outer.data, Path(outer.paths.cache_dir))
    classes = list(outer.asset_classes) if outer.asset_classes is not None else available
    unknown = [c for c in classes if c not in available]
    if unknown or not classes:
        raise ConfigError(f"asset_classes={classes} must name classes of the data source; available: {available}")
    seeds = list(outer.seeds) if outer.seeds is not None else [outer.seed]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={seeds} must be a non-empty list without repeats (or null for just `seed`)")
    jobs = []
    for asset_class in classes:
        if not (config_dir() / "asset" / f"{asset_class}.yaml").is_file():
            raise ConfigError(
                f"asset class {asset_class!r} has no conf/asset/{asset_class}.yaml; add one (copy equity.yaml) "
                "or leave it out of asset_classes"
            )
        for seed in seeds:
            folder = run_dir / "ppo" / asset_class
            if len(seeds) > 1:
                folder = folder / f"seed_{seed}"
            composed = compose("train", overrides=[*passed_on(overrides), f"asset={asset_class}", f"seed={seed}"])
            cfg = to_train_config(composed)
            cfg = dataclasses.replace(cfg, paths=dataclasses.replace(cfg.paths, output_dir=str(folder)))
            check_trainable(cfg)
            jobs.append(Job(asset_class, seed, cfg, folder))
    return jobs


def run(job: Job, resume: bool) -> dict[str, float]:
    """Train one job in its folder; with `resume`, a finished job is reused and an interrupted one continued."""
    if resume and read_state(job.run_dir)["status"] == "finished":
        log.info("%s seed %d: finished earlier, reusing %s", job.asset_class, job.seed, job.run_dir)
        return read_metrics(job.run_dir)
    can_continue = resume and latest_checkpoint(job.run_dir / CHECKPOINT_DIR) is not None
    cfg = dataclasses.replace(job.cfg, resume=can_continue)
    job.run_dir.mkdir(parents=True, exist_ok=True)
    run_job(
        job.run_dir,
        cfg.optimized_metric,
        lambda: train_one(cfg, job.run_dir),
        title=f"{job.asset_class} / ppo / seed {job.seed}",
    )
    return read_metrics(job.run_dir)


def train_ppo_agents(outer: TrainConfig, overrides: list[str], run_dir: Path) -> RunOutcome:
    """Every job, then the seed summaries and the signals table."""
    jobs = plan_jobs(outer, overrides, run_dir)
    results = {(job.asset_class, job.seed): run(job, outer.resume) for job in jobs}
    metrics: dict[str, float] = {}
    frames = []
    for asset_class in dict.fromkeys(job.asset_class for job in jobs):
        class_jobs = [job for job in jobs if job.asset_class == asset_class]
        per_seed = {job.seed: results[(asset_class, job.seed)] for job in class_jobs}
        if len(class_jobs) > 1:
            summary = summarise_seeds({s: m[SEED_METRIC] for s, m in per_seed.items()}, SEED_METRIC)
            write_json(run_dir / "ppo" / asset_class / "seeds_summary.json", summary.to_dict())
            metrics.update({f"{asset_class}/{SEED_METRIC}_mean": summary.mean})
        chosen = max(class_jobs, key=lambda job: _finite(per_seed[job.seed].get(SELECTION_METRIC)))
        metrics.update({f"{asset_class}/{k}": v for k, v in per_seed[chosen.seed].items()})
        model = PPO.load(chosen.run_dir / BEST_MODEL_FILE, device="cpu")
        frames.append(signals_frame(model, load_run_market(chosen.cfg), chosen.cfg.env, chosen.cfg.reward))
        log.info("%s signals from seed %d (%s)", asset_class, chosen.seed, chosen.run_dir)
    write_signals(run_dir / SIGNALS_FILE, frames)
    # The sweep objective: the optimised metric averaged over every class and seed (not the best seed's).
    values = [m.get(outer.optimized_metric, math.nan) for m in results.values()]
    metrics[outer.optimized_metric] = sum(values) / len(values)
    write_json(run_dir / "metrics.json", metrics)
    return RunOutcome(run_dir, metrics)


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = to_train_config(cfg)
    overrides = list(HydraConfig.get().overrides.task)
    return run_job(
        run_dir,
        config.optimized_metric,
        lambda: train_ppo_agents(config, overrides, run_dir),
        title="PPO agents per asset class",
    )


if __name__ == "__main__":
    main()
