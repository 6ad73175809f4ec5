"""Interrupt and resume: SIGTERM saves a loadable checkpoint, and a resumed run ends where a straight one does."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from interrupting import start_until_first_checkpoint, stop_with
from runs import hierl_train, metrics_without_timing, run_ok
from stable_baselines3 import PPO

from hierl.config.loading import load_config
from hierl.errors import UserError
from hierl.orchestration.asset_run import train_asset_agent
from hierl.tracking.checkpoints import CHECKPOINT_DIR, latest_checkpoint

OVERRIDES = ["agent=ppo", "asset=equity", "debug=smoke", "data=synthetic", "agent.total_timesteps=8192"]


def command(run_dir: Path, *extra: str) -> list[str]:
    return hierl_train(*OVERRIDES, f"hydra.run.dir={run_dir}", *extra)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("reliability")
    run_ok(command(root / "straight"), timeout=300)

    interrupted = root / "interrupted"
    process = start_until_first_checkpoint(command(interrupted), interrupted)
    stderr, stop_seconds = stop_with(process, signal.SIGTERM)
    state_after_signal = json.loads((interrupted / "run_state.json").read_text())
    checkpoint = latest_checkpoint(interrupted / CHECKPOINT_DIR)
    assert checkpoint is not None
    # Loaded before resuming: the resumed run prunes old checkpoints as it writes new ones.
    loaded = PPO.load(checkpoint.model_path, device="cpu")
    saved_state = checkpoint.state()

    run_ok(command(interrupted, "resume=true"), timeout=300)
    return {
        "root": root,
        "returncode": process.returncode,
        "stderr": stderr,
        "stop_seconds": stop_seconds,
        "state": state_after_signal,
        "checkpoint_timesteps": checkpoint.timesteps,
        "loaded_timesteps": loaded.num_timesteps,
        "state_timesteps": saved_state["timesteps"],
    }


@pytest.mark.slow
def test_sigterm_stops_training_cleanly_with_a_loadable_checkpoint(runs: dict[str, object]) -> None:
    assert runs["returncode"] == 128 + signal.SIGTERM
    assert runs["stop_seconds"] < 10  # type: ignore[operator]
    assert "Traceback" not in runs["stderr"]  # type: ignore[operator]
    state = runs["state"]
    assert isinstance(state, dict) and state["status"] == "interrupted"
    assert runs["loaded_timesteps"] == runs["state_timesteps"] == runs["checkpoint_timesteps"]
    assert runs["checkpoint_timesteps"] > 0  # type: ignore[operator]


@pytest.mark.slow
def test_a_resumed_run_matches_the_uninterrupted_run(runs: dict[str, object]) -> None:
    root = runs["root"]
    assert isinstance(root, Path)
    assert metrics_without_timing(root / "interrupted") == metrics_without_timing(root / "straight")
    assert json.loads((root / "interrupted" / "run_state.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_a_checkpoint_of_another_observation_shape_is_refused_with_a_clear_error(runs: dict[str, object]) -> None:
    root = runs["root"]
    assert isinstance(root, Path)
    cfg = load_config([*OVERRIDES, "resume=true", "env.window=8"], output_dir=str(root / "straight"))
    with pytest.raises(UserError, match="observations of shape"):
        train_asset_agent(cfg, root / "straight")


def test_resume_without_a_checkpoint_fails_before_any_work(tmp_path: Path) -> None:
    cfg = load_config([*OVERRIDES, "resume=true"], output_dir=str(tmp_path))
    with pytest.raises(UserError, match="no complete checkpoint"):
        train_asset_agent(cfg, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_checkpoint_of_another_hierl_version_is_refused_with_a_clear_error(
    runs: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hierl

    root = runs["root"]
    assert isinstance(root, Path)
    monkeypatch.setattr(hierl, "__version__", "0.0.0")
    cfg = load_config([*OVERRIDES, "resume=true"], output_dir=str(root / "straight"))
    with pytest.raises(UserError, match=r"written by hierl .*, this is hierl 0\.0\.0"):
        train_asset_agent(cfg, root / "straight")


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint_to_the_same_result(
    runs: dict[str, object], tmp_path: Path
) -> None:
    root = runs["root"]
    assert isinstance(root, Path)
    killed = tmp_path / "killed"
    process = start_until_first_checkpoint(command(killed), killed)
    stop_with(process, signal.SIGKILL)  # no handler runs, nothing is saved on the way out
    assert json.loads((killed / "run_state.json").read_text())["status"] == "running"
    assert not (killed / "metrics.json").exists()

    run_ok(command(killed, "resume=true"), timeout=300)
    assert json.loads((killed / "run_state.json").read_text())["status"] == "finished"
    assert metrics_without_timing(killed) == metrics_without_timing(root / "straight")
