"""SAC interrupt and resume: SIGTERM saves a complete checkpoint (replay buffer included) and exits cleanly, and
a resumed run ends at the same step with the same metrics as an uninterrupted run of the same seed."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO
from interrupting import start_until_first_checkpoint, stop_with
from runs import hierl_train, metrics_without_timing, run_ok
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer

from hierl.agents.model_files import load_model
from hierl.agents.sac import REPLAY_BUFFER_FILE, load_replay_buffer
from hierl.config.loading import load_config
from hierl.config.run import TrainConfig
from hierl.data.pipeline import available_asset_classes, load_market_data
from hierl.errors import UserError
from hierl.orchestration.hierarchy_run import train_meta_controller
from hierl.orchestration.signals import SIGNAL_SCHEMA, write_signals
from hierl.orchestration.sleeve_signals import class_config
from hierl.tracking.checkpoints import CHECKPOINT_DIR, latest_checkpoint

SMOKE = ["experiment=hierarchy", "debug=smoke", "logger=none"]
TRAINING = ["agent.learning_starts=256", "agent.checkpoint_freq=512", "agent.prefill_steps=256"]


def smoke_config(overrides: list[str], output_dir: Path) -> TrainConfig:
    """The config `hierl.train` composes from `overrides`; the sleeves' classes get the smoke preset as on the CLI."""
    return load_config(overrides, output_dir=str(output_dir))


def build_signals(path: Path) -> Path:
    """Momentum signals (tanh of the trailing 5-day return) on every row of each class's split blocks."""
    outer = smoke_config(SMOKE, path.parent)
    frames = []
    for name in available_asset_classes(outer.data, Path(outer.paths.cache_dir)):
        cfg = class_config(outer, name)
        market = load_market_data(cfg.data, name, cfg.env.window, Path(cfg.paths.cache_dir), cfg.asset.symbols)
        returns = np.nan_to_num(market.returns)
        trailing = np.cumsum(returns, axis=0)
        trailing[5:] -= trailing[:-5].copy()
        for split, (start, stop) in market.split_bounds.items():
            rows = np.arange(start, stop)
            frames.append(
                pl.DataFrame(
                    {
                        "date": np.repeat(market.dates[rows], market.n_assets),
                        "asset_class": [name] * (len(rows) * market.n_assets),
                        "symbol": list(market.symbols) * len(rows),
                        "signal": np.tanh(20.0 * trailing[rows]).reshape(-1),
                        "split": [split] * (len(rows) * market.n_assets),
                    },
                    schema=SIGNAL_SCHEMA,
                )
            )
    write_signals(path, frames)
    return path


def overrides(signals: Path, *extra: str) -> list[str]:
    return [*SMOKE, f"agent.signals_path={signals}", *TRAINING, *extra]


def command(signals: Path, run_dir: Path, *extra: str) -> list[str]:
    return hierl_train(*overrides(signals, *extra), f"hydra.run.dir={run_dir}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("sac_resume")
    signals = build_signals(root / "signals.parquet")
    run_ok(command(signals, root / "straight"), cwd=REPO)

    interrupted = root / "interrupted"
    process = start_until_first_checkpoint(command(signals, interrupted), interrupted, timeout=300, cwd=REPO)
    stderr, stop_seconds = stop_with(process, signal.SIGTERM, timeout=120)
    state_after_signal = json.loads((interrupted / "run_state.json").read_text())
    checkpoint = latest_checkpoint(interrupted / CHECKPOINT_DIR)
    assert checkpoint is not None
    # Loaded before resuming: the resumed run prunes old checkpoints as it writes new ones.
    # train_freq is not stored in plain text (it is the config's); counting transitions does not use it.
    loaded = load_model(SAC, checkpoint.model_path, known={"train_freq": 1})
    assert isinstance(loaded.replay_buffer, ReplayBuffer)
    load_replay_buffer(loaded.replay_buffer, checkpoint.path / REPLAY_BUFFER_FILE)
    saved_state = checkpoint.state()

    run_ok(command(signals, interrupted, "resume=true"), cwd=REPO)
    return {
        "root": root,
        "signals": signals,
        "returncode": process.returncode,
        "stderr": stderr,
        "stop_seconds": stop_seconds,
        "state": state_after_signal,
        "checkpoint_timesteps": checkpoint.timesteps,
        "loaded_timesteps": loaded.num_timesteps,
        "state_timesteps": saved_state["timesteps"],
        # One transition per env step of each training env, plus the prefill (smoke: 2 envs).
        "buffer_transitions": loaded.replay_buffer.size() * loaded.replay_buffer.n_envs,
    }


@pytest.mark.slow
def test_sigterm_saves_a_complete_checkpoint_and_exits_cleanly(runs: dict[str, object]) -> None:
    assert runs["returncode"] == 128 + signal.SIGTERM
    assert runs["stop_seconds"] < 30  # type: ignore[operator]
    assert "Traceback" not in runs["stderr"]  # type: ignore[operator]
    state = runs["state"]
    assert isinstance(state, dict) and state["status"] == "interrupted"
    timesteps = runs["checkpoint_timesteps"]
    assert isinstance(timesteps, int) and timesteps >= 512
    assert runs["loaded_timesteps"] == runs["state_timesteps"] == timesteps
    assert runs["buffer_transitions"] == timesteps + 256


@pytest.mark.slow
def test_a_resumed_run_matches_the_uninterrupted_run(runs: dict[str, object]) -> None:
    root = runs["root"]
    assert isinstance(root, Path)
    resumed, straight = metrics_without_timing(root / "interrupted"), metrics_without_timing(root / "straight")
    assert resumed["train/timesteps"] == straight["train/timesteps"] == 2048
    assert resumed == straight
    assert json.loads((root / "interrupted" / "run_state.json").read_text())["status"] == "finished"
    for run in ("straight", "interrupted"):
        prefill = json.loads((root / run / "prefill.json").read_text())
        assert prefill["steps"] == 256 and prefill["split"] == "train"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("asset_classes=[commodity,equity]", "observations of shape"),
        ("reward.cvar_penalty=0.1", r"differs from the checkpoint's \(reward.cvar_penalty"),
        ("agent.prefill_steps=128", r"differs from the checkpoint's \(agent.prefill_steps"),
    ],
)
def test_a_checkpoint_of_another_shape_or_config_is_refused(runs: dict[str, object], change: str, message: str) -> None:
    root, signals = runs["root"], runs["signals"]
    assert isinstance(root, Path) and isinstance(signals, Path)
    cfg = smoke_config([*overrides(signals, change), "resume=true"], root / "straight")
    with pytest.raises(UserError, match=message):
        train_meta_controller(cfg, root / "straight")


def test_resume_without_a_checkpoint_fails_before_any_work(tmp_path: Path) -> None:
    cfg = smoke_config([*SMOKE, "resume=true"], tmp_path)
    with pytest.raises(UserError, match="no complete checkpoint"):
        train_meta_controller(cfg, tmp_path)
    assert list(tmp_path.iterdir()) == []
