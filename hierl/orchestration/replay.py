"""Replays a saved policy deterministically on (possibly different) data and writes a new run folder."""

from __future__ import annotations

from pathlib import Path

from stable_baselines3 import PPO

from hierl.config.run import TrainConfig
from hierl.envs.trading_env import TradingEnv
from hierl.errors import UserError
from hierl.orchestration.asset_run import BEST_MODEL_FILE, RunOutcome, load_run_market, predictor
from hierl.orchestration.policy_evaluation import (
    EVALUATED_SPLITS,
    evaluate_split,
    write_data_fingerprint,
    write_evaluation,
)
from hierl.tracking.files import write_json
from hierl.tracking.run_state import read_state


def replay_run(cfg: TrainConfig, source_run: Path, run_dir: Path) -> RunOutcome:
    """Evaluate the best model of `source_run` on the validation and test blocks of `cfg`'s data."""
    model_path = source_run / BEST_MODEL_FILE
    if not model_path.is_file():
        raise UserError(f"{source_run} has no {BEST_MODEL_FILE}; point run_dir at a finished training run folder")
    state = read_state(source_run)
    if state["status"] != "finished":
        raise UserError(f"{source_run} is not a finished run (state: {state['status']}); it has no result to replay")
    market = load_run_market(cfg)
    model = PPO.load(model_path, device="cpu")
    probe = TradingEnv(market, "test", cfg.env, cfg.reward, symbol_index=0)
    if model.observation_space.shape != probe.observation_space.shape:
        raise UserError(
            f"the model in {source_run} expects observations of shape {model.observation_space.shape} but this "
            f"data and env config give {probe.observation_space.shape}; use the same features and env.window "
            "as the training run"
        )
    write_data_fingerprint(run_dir, market)
    evaluations = [evaluate_split(predictor(model), market, split, cfg.env, cfg.reward) for split in EVALUATED_SPLITS]
    metrics = write_evaluation(run_dir, evaluations, f"replay of {source_run.name}")
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "source_run.json", {"run_dir": str(source_run.resolve()), "model": BEST_MODEL_FILE})
    return RunOutcome(run_dir, metrics)
