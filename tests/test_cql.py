"""CQL pretraining: config, a tiny fit, the saved policy files, and the `agent=cql` run folder."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import d3rlpy
import numpy as np
import polars as pl
import pytest
import torch
from conftest import REPO
from envs_fixtures import make_market
from runs import hierl_train, read_json, replay, run_ok
from training_checks import assert_every_parameter_moved, snapshot

from hierl.agents.behaviour_policies import check_mix, make_behaviour_policies
from hierl.agents.cql import (
    CQL_MODEL_FILE,
    CQL_POLICY_FILE,
    CQL_WEIGHTS_FILE,
    build_cql,
    check_cql_config,
    load_cql_policy,
    save_cql_run,
    train_cql,
)
from hierl.agents.offline_dataset import OfflineDatasetSpec, build_offline_dataset
from hierl.config.cql import CQLConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.loading import load_config
from hierl.errors import UserError

TINY = CQLConfig(total_timesteps=400, n_steps=120, eval_freq=50, batch_size=32, net_arch=[16, 16])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cql_option_composes_with_the_smoke_preset() -> None:
    cfg = load_config(["agent=cql", "debug=smoke"])
    assert isinstance(cfg.agent, CQLConfig)
    assert cfg.agent.n_steps == 256 and cfg.agent.total_timesteps == 2048
    assert cfg.agent.net_arch == [16, 16] and cfg.agent.batch_size == 64


@pytest.mark.parametrize("asset", ["equity", "commodity", "index"])
def test_cql_option_composes_with_every_asset_class(asset: str) -> None:
    cfg = load_config(["agent=cql", f"asset={asset}", "agent.behaviour_mix.ppo=0.5"])
    assert isinstance(cfg.agent, CQLConfig)
    assert cfg.agent.behaviour_mix["ppo"] == 0.5 and cfg.agent.behaviour_mix["random"] == 0.25


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"n_steps": 0}, "agent.n_steps"),
        ({"net_arch": []}, "agent.net_arch"),
        ({"gamma": 1.0}, "agent.gamma"),
        ({"critic_learning_rate": -1.0}, "agent.critic_learning_rate"),
    ],
)
def test_bad_cql_settings_name_the_key(override: dict[str, object], key: str) -> None:
    with pytest.raises(UserError, match=key):
        check_cql_config(CQLConfig(**override))  # type: ignore[arg-type]


@pytest.mark.slow
def test_tiny_fit_saves_a_policy_that_reloads_exactly(tmp_path: Path) -> None:
    # d3rlpy draws its minibatches from numpy's global generator and its initial weights from torch's.
    d3rlpy.seed(0)
    market = make_market(n_days=160, n_assets=2, n_features=2)
    env = EnvConfig(window=4, episode_length=40)
    shares = check_mix(TINY.behaviour_mix, None)
    policies = make_behaviour_policies(shares, 10, 3, None)
    data = build_offline_dataset(market, env, RewardConfig(), OfflineDatasetSpec(400, shares, 0.1, 0), policies)
    mdp = data.to_mdp_dataset()
    algo = build_cql(TINY, mdp)
    before = algo.predict(data.observations[:64]).copy()
    assert algo.impl is not None
    initial = {name: snapshot(getattr(algo.impl.modules, name)) for name in ("policy", "q_funcs")}
    epochs: list[int] = []

    def on_epoch(step: int, losses: dict[str, float]) -> None:
        assert {"critic_loss", "actor_loss", "conservative_loss"} <= set(losses)
        assert all(math.isfinite(value) for value in losses.values()), losses
        epochs.append(step)

    train_cql(algo, mdp, TINY, on_epoch)
    assert epochs == [50, 100, 120]  # every eval_freq steps, and at the end
    actions = algo.predict(data.observations[:64])
    assert actions.shape == (64, 1) and np.abs(actions).max() <= 1.0
    assert not np.allclose(actions, before)  # the actor learned something
    for name, weights in initial.items():
        assert_every_parameter_moved(weights, getattr(algo.impl.modules, name))

    save_cql_run(algo, TINY, tmp_path, {"selected_step": 120})
    meta = json.loads((tmp_path / CQL_POLICY_FILE).read_text())
    assert meta["observation_shape"] == [data.observations.shape[1]]
    assert meta["action_low"] == [-1.0] and meta["action_high"] == [1.0]
    assert meta["config"]["n_steps"] == 120 and meta["selected_step"] == 120
    (tmp_path / CQL_MODEL_FILE).unlink()  # hierl never needs d3rlpy's pickled file
    loaded = load_cql_policy(tmp_path)
    np.testing.assert_array_equal(loaded.predict(data.observations[:64]), actions)


def test_weights_file_holds_tensors_only(tmp_path: Path) -> None:
    """cql_weights.pt opens with torch's weights-only loader: it cannot carry code."""
    market = make_market(n_days=120, n_assets=2, n_features=2)
    env = EnvConfig(window=4, episode_length=30)
    shares = {"random": 1.0}
    data = build_offline_dataset(
        market, env, RewardConfig(), OfflineDatasetSpec(60, shares, 0.0, 0), make_behaviour_policies(shares, 5, 5, None)
    )
    algo = build_cql(TINY, data.to_mdp_dataset())
    save_cql_run(algo, TINY, tmp_path, {})
    states = torch.load(tmp_path / CQL_WEIGHTS_FILE, weights_only=True)
    assert {"policy", "q_funcs", "targ_q_funcs"} <= set(states)


CONTRACT = [
    ".hydra/config.yaml",
    "cql_model.d3",
    "cql_weights.pt",
    "cql_policy.json",
    "offline_dataset.h5",
    "offline_dataset.parquet",
    "metrics.json",
    "validation_history.json",
    "backtest.parquet",
    "positions.parquet",
    "baselines.parquet",
    "equity_curve_val.png",
    "equity_curve_test.png",
    "data_fingerprint.json",
    "safety_report.json",
    "run_state.json",
    "log.jsonl",
]


@pytest.mark.slow
def test_train_agent_cql_smoke_writes_the_contract(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # Started outside the repository, so a stray d3rlpy_logs/ in the working folder would show.
    outside = {"cwd": tmp_path, "env": {**os.environ, "PYTHONPATH": str(REPO)}}
    run_ok(hierl_train("agent=cql", "asset=equity", "debug=smoke", f"hydra.run.dir={run_dir}"), **outside)
    missing = [name for name in CONTRACT if not (run_dir / name).is_file()]
    assert not missing
    assert not (tmp_path / "d3rlpy_logs").exists() and not (run_dir / "d3rlpy_logs").exists()
    assert json.loads((run_dir / "run_state.json").read_text())["status"] == "finished"

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val/sharpe", "test/sharpe", "test/max_drawdown", "test/baseline/buy_and_hold/sharpe"):
        assert np.isfinite(metrics[key])
    assert metrics["train/gradient_steps"] == 256
    assert metrics["dataset/transitions"] >= 2048
    table = pl.read_parquet(run_dir / "offline_dataset.parquet")
    assert len(table) == metrics["dataset/transitions"]
    assert set(table["policy"].unique()) == {"buy_and_hold", "momentum", "mean_reversion", "random"}
    meta = json.loads((run_dir / CQL_POLICY_FILE).read_text())
    assert meta["config"]["n_steps"] == 256 and meta["window"] == 16
    assert json.loads((run_dir / "safety_report.json").read_text())

    replayed = replay(run_dir, **outside)
    assert read_json(replayed / "metrics.json")["test/sharpe"] == metrics["test/sharpe"]


@pytest.mark.slow
def test_pretraining_trains_at_the_thread_policy_count_and_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The policy gives CQL's small networks one thread, whatever the process had before; the run records it.
    from hierl.orchestration.cql_run import pretrain_cql

    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the policy exports its count; restore it afterwards
        monkeypatch.setenv(variable, os.environ.get(variable, "1"))
    cfg = load_config(["agent=cql", "debug=smoke"], output_dir=str(tmp_path))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        outcome = pretrain_cql(cfg, tmp_path)
        assert torch.get_num_threads() == 1
        assert outcome.metrics["train/torch_threads"] == 1.0
    finally:
        torch.set_num_threads(before)


class TrialReporter:
    """A sweep trial's reporter that keeps what it is told, for the run folder `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.reports: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))


@pytest.mark.slow
def test_a_cql_trial_reports_each_validation_score_at_its_gradient_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hierl.agents import trial_reporting
    from hierl.orchestration.cql_run import pretrain_cql

    run_dir = tmp_path / "run"
    reporter = TrialReporter(run_dir)
    monkeypatch.setattr(trial_reporting, "current_trial_reporter", lambda: reporter)
    overrides = ["agent=cql", "asset=equity", "debug=smoke", "agent.eval_freq=64"]
    cfg = load_config(overrides, output_dir=str(run_dir))
    pretrain_cql(cfg, run_dir)
    history = read_json(run_dir / "validation_history.json")
    assert len(history) >= 2
    assert reporter.reports == [(row["sharpe"], int(row["step"])) for row in history]
