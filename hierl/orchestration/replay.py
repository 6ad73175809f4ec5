"""Replays a saved single-asset policy (PPO or CQL) deterministically and writes a new run folder."""

from __future__ import annotations

from pathlib import Path

from stable_baselines3 import PPO

from hierl.agents.model_files import load_model
from hierl.agents.observation_scaling import read_scaling
from hierl.agents.rollout import Predict, predictor
from hierl.config.env import EnvConfig
from hierl.config.run import TrainConfig
from hierl.config.stages import is_cql_run, ppo_run
from hierl.data.market import MarketData
from hierl.envs.episodes import CONTEXT_NAMES
from hierl.envs.trading_env import TradingEnv
from hierl.errors import UserError
from hierl.orchestration.asset_run import load_run_market, use_ppo_threads
from hierl.orchestration.policy_evaluation import (
    EVALUATED_SPLITS,
    evaluate_split,
    read_normalisation,
    write_data_fingerprint,
    write_evaluation,
)
from hierl.run.folder import BEST_MODEL_FILE, RunFolder
from hierl.run.lifecycle import RunOutcome
from hierl.tracking.run_state import read_state


def load_policy(source_run: Path, agent: str) -> tuple[Predict, tuple[int, ...], str]:
    """The run's selected policy as a batch predictor, the observation shape it expects, and the file it came from.

    A PPO run trained with `agent.normalize_observations` scales observations with the statistics saved beside its
    selected model, as its own validation and test backtests did.
    """
    if agent == "ppo":
        model_path = source_run / BEST_MODEL_FILE
        if not model_path.is_file():
            raise UserError(f"{source_run} has no {BEST_MODEL_FILE}; point run_dir at a finished PPO run folder")
        model = load_model(PPO, model_path)
        shape = tuple(model.observation_space.shape or ())
        scaling = read_scaling(model_path)
        if scaling is not None and scaling.mean.shape != shape:
            raise UserError(
                f"the observation statistics beside {model_path} have shape {scaling.mean.shape} but the model "
                f"expects {shape}; they belong to another model"
            )
        return predictor(model, scaling), shape, BEST_MODEL_FILE
    if agent == "cql":
        # d3rlpy (seconds to import) only for the replays that need it.
        from hierl.agents.cql import CQL_POLICY_FILE, load_cql_policy

        if not (source_run / CQL_POLICY_FILE).is_file():
            raise UserError(f"{source_run} has no {CQL_POLICY_FILE}; point run_dir at a finished CQL run folder")
        policy = load_cql_policy(source_run)
        return policy.predict, policy.observation_shape, CQL_POLICY_FILE
    raise UserError(
        f"hierl.evaluate replays single-asset policies (agent=ppo or agent=cql runs), not agent={agent}; "
        "re-run the hierarchy with agent.signals_path to evaluate a meta-controller on other data"
    )


def use_replay_threads(cfg: TrainConfig, market: MarketData) -> None:
    """The thread policy for the replayed network, as its training stage chose it."""
    if is_cql_run(cfg):
        from hierl.orchestration.cql_run import use_cql_threads

        use_cql_threads(cfg, cfg.agent, cfg.env.window * market.n_features + len(CONTEXT_NAMES))
    else:
        use_ppo_threads(ppo_run(cfg), market)


def replay_run(cfg: TrainConfig, source_run: Path, run_dir: Path) -> RunOutcome:
    """Evaluate the selected policy of `source_run` on the validation and test blocks of `cfg`'s data."""
    state = read_state(source_run)
    if state["status"] != "finished":
        raise UserError(f"{source_run} is not a finished run (state: {state['status']}); it has no result to replay")
    if not isinstance(cfg.env, EnvConfig):
        # A SAC run, or a CQL run on the meta-controller's env: their policies allocate across sleeves.
        raise UserError(
            f"hierl.evaluate replays single-asset policies (env=trading runs); {source_run} ran env={cfg.env.name}: "
            "re-run the hierarchy with agent.signals_path to evaluate a meta-controller on other data"
        )
    predict, expected_shape, policy_file = load_policy(source_run, cfg.agent.name)
    # The policy sees features scaled exactly as in its training run, whatever data it is replayed on.
    market = load_run_market(cfg, read_normalisation(source_run))
    use_replay_threads(cfg, market)
    probe = TradingEnv(market, "test", cfg.env, cfg.reward, symbol_index=0)
    if expected_shape != probe.observation_space.shape:
        raise UserError(
            f"the policy in {source_run} expects observations of shape {expected_shape} but this data and env "
            f"config give {probe.observation_space.shape}; use the same features and env.window as the training run"
        )
    write_data_fingerprint(run_dir, market)
    evaluations = [evaluate_split(predict, market, split, cfg.env, cfg.reward) for split in EVALUATED_SPLITS]
    metrics = write_evaluation(run_dir, evaluations, f"replay of {source_run.name}")
    run = RunFolder(run_dir)
    run.write_metrics(metrics)
    run.write_source_run(source_run, policy_file)
    return RunOutcome(run_dir, metrics)
