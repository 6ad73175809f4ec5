"""Tracking: an offline W&B run holds the metrics, config and model; no credential reaches a file; TensorBoard
and CSV come from SB3's writers; run states say why a run stopped."""

from __future__ import annotations

import csv
import logging
import os
import signal
import struct
from pathlib import Path
from typing import Any

import optuna
import pytest
from runs import hierl_train, run_ok

from hierl.agents.callbacks import TrainingInterrupted
from hierl.config.loading import load_config
from hierl.config.run import LoggerConfig
from hierl.orchestration.asset_run import sb3_logger
from hierl.tracking.run_state import mark_failed, read_state
from hierl.tracking.secrets import RedactSecrets, redact_config
from hierl.tracking.trackers import WANDB_RUN_ID_FILE, default_group, start_tracker

SECRET = "wandb-secret-0123456789abcdef0123456789abcdef"


def wandb_records(path: Path) -> list[Any]:
    """The protobuf records of an offline `.wandb` file (LevelDB-style log: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2

    data, records, pending, pos, block = path.read_bytes(), [], b"", 7, 32768
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("wandb") / "run"
    env = {**os.environ, "WANDB_API_KEY": SECRET, "WANDB_MODE": "offline"}
    command = hierl_train(
        "agent=ppo",
        "asset=equity",
        "debug=smoke",
        "data=synthetic",
        "logger=wandb",
        "logger.group=tracking-test",
        f"hydra.run.dir={run_dir}",
    )
    result = run_ok(command, timeout=300, env=env)
    assert SECRET not in result.stdout + result.stderr
    return run_dir


@pytest.mark.slow
def test_offline_wandb_run_holds_metrics_config_summary_and_the_best_model(wandb_run: Path) -> None:
    files = list(wandb_run.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1
    records = wandb_records(files[0])
    by_kind: dict[str, list[Any]] = {}
    for record in records:
        by_kind.setdefault(record.WhichOneof("record_type"), []).append(record)

    history_keys = {item.key or "/".join(item.nested_key) for r in by_kind["history"] for item in r.history.item}
    assert {"val/sharpe", "train/approx_kl", "train/value_loss", "reward/return", "reward/volatility"} <= history_keys
    summary_keys = {item.key or "/".join(item.nested_key) for r in by_kind["summary"] for item in r.summary.update}
    assert {"test/sharpe", "test/baseline/buy_and_hold/sharpe"} <= summary_keys

    run = by_kind["run"][0].run
    assert run.display_name.startswith("equity__ppo__0__")
    assert run.run_group == "tracking-test"
    assert "ppo" in run.tags and "equity" in run.tags
    assert any(tag.startswith("stable-baselines3:") for tag in run.tags)
    assert any(tag.startswith("git:") for tag in run.tags)
    config_keys = {item.key or "/".join(item.nested_key) for item in run.config.update}
    assert {"agent.learning_rate", "env.window", "seed"} <= config_keys

    artifacts = {r.artifact.type: [c.path for c in r.artifact.manifest.contents] for r in by_kind["artifact"]}
    assert artifacts["model"] == ["best_model.zip"]
    assert "metrics.json" in artifacts["metrics"]
    assert "exit" in by_kind


@pytest.mark.slow
def test_no_credential_lands_in_any_file_of_the_run(wandb_run: Path) -> None:
    leaked = [p for p in wandb_run.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []


def test_credentials_are_redacted_from_tracked_configs_and_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"WANDB_API_KEY": SECRET, "HOME": "/root"}
    flat = {"logger.api_key": "abc", "data.path": SECRET, "agent.learning_rate": 3e-4, "paths.root_dir": "/root"}
    assert redact_config(flat, environ) == {
        "logger.api_key": "***",
        "data.path": "***",
        "agent.learning_rate": 3e-4,
        "paths.root_dir": "/root",
    }
    record = logging.LogRecord("hierl", logging.INFO, __file__, 1, "key is %s", (SECRET,), None)
    os.environ["HIERL_TEST_TOKEN"] = SECRET
    try:
        RedactSecrets().filter(record)
    finally:
        del os.environ["HIERL_TEST_TOKEN"]
    assert record.getMessage() == "key is ***"


def test_wandb_group_defaults_to_the_experiment_name_outside_a_sweep() -> None:
    assert default_group(LoggerConfig(group="mine"), "exp") == "mine"
    assert default_group(LoggerConfig(), "exp") == "exp"
    assert default_group(LoggerConfig(), None) == "hierl"


WRITTEN = {1: 0.01, 2: 0.25}  # step -> train/approx_kl


def write_through_sb3_logger(logger: str, run_dir: Path, resumed_at: int | None = None) -> None:
    cfg = load_config([f"logger={logger}"], output_dir=str(run_dir))
    writer = sb3_logger(cfg, run_dir, resumed_at=resumed_at)
    for step, value in WRITTEN.items():
        writer.record("train/approx_kl", value)
        writer.dump(step=step)
    writer.close()


def test_the_csv_writer_holds_the_values_written(tmp_path: Path) -> None:
    write_through_sb3_logger("csv", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.csv"]
    rows = list(csv.DictReader((tmp_path / "progress.csv").open()))
    assert [float(row["train/approx_kl"]) for row in rows] == list(WRITTEN.values())
    # A resumed run appends a file of its own, the first one is kept.
    write_through_sb3_logger("csv", tmp_path, resumed_at=2048)
    assert (tmp_path / "progress_resumed_2048.csv").is_file() and (tmp_path / "progress.csv").is_file()


def test_the_tensorboard_writer_holds_the_values_written(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    write_through_sb3_logger("tensorboard", tmp_path)
    assert not list(tmp_path.glob("*.csv"))
    (events,) = tmp_path.glob("tensorboard/events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    scalars = accumulator.Scalars("train/approx_kl")
    assert [event.step for event in scalars] == list(WRITTEN)
    assert [event.value for event in scalars] == pytest.approx(list(WRITTEN.values()), rel=1e-7)  # float32


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (optuna.TrialPruned("pruned at 4096"), "pruned"),
        (TrainingInterrupted(int(signal.SIGTERM), None), "interrupted"),
        (KeyboardInterrupt(), "interrupted"),
        (RuntimeError("boom"), "failed"),
    ],
)
def test_run_state_says_why_a_run_stopped(error: BaseException, status: str, tmp_path: Path) -> None:
    mark_failed(tmp_path, error)
    assert read_state(tmp_path)["status"] == status


class RecordingInit:
    """Stands in for `wandb.init`: records the modes asked for; `online` fails like an unreachable server."""

    def __init__(self, online_fails: bool) -> None:
        self.modes: list[str] = []
        self.settings: list[dict[str, object]] = []
        self.online_fails = online_fails

    def __call__(self, mode: str, **settings: object) -> object:
        self.modes.append(mode)
        self.settings.append(settings)
        if mode == "online" and self.online_fails:
            raise ConnectionError("server unreachable")
        return object()


def warnings_of(action: Any, caplog: pytest.LogCaptureFixture) -> bool:
    """Run `action` with the (non-propagating) hierl logger also writing to pytest's capture; any warning?"""
    logger = logging.getLogger("hierl")
    logger.addHandler(caplog.handler)
    try:
        action()
    finally:
        logger.removeHandler(caplog.handler)
    return any(record.levelno == logging.WARNING for record in caplog.records)


def wandb_logger(mode: str) -> LoggerConfig:
    return LoggerConfig(name="wandb", mode=mode)


def test_online_without_credentials_falls_back_to_offline_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import wandb

    fake = RecordingInit(online_fails=False)
    monkeypatch.setattr(wandb, "init", fake)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert warnings_of(lambda: start_tracker(wandb_logger("online"), tmp_path, "run", {}, tags=[]), caplog)
    assert fake.modes == ["offline"]
    assert "no W&B credentials" in caplog.text


def test_an_unreachable_server_falls_back_to_offline_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import wandb

    fake = RecordingInit(online_fails=True)
    monkeypatch.setattr(wandb, "init", fake)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert warnings_of(lambda: start_tracker(wandb_logger("online"), tmp_path, "run", {}, tags=[]), caplog)
    assert fake.modes == ["online", "offline"]
    assert "unreachable" in caplog.text


def test_a_resumed_run_continues_its_wandb_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import wandb

    fake = RecordingInit(online_fails=False)
    monkeypatch.setattr(wandb, "init", fake)
    start_tracker(wandb_logger("offline"), tmp_path, "run", {}, tags=[])
    start_tracker(wandb_logger("offline"), tmp_path, "run", {}, tags=[], resume=True)
    start_tracker(wandb_logger("offline"), tmp_path, "run", {}, tags=[])
    first, resumed, fresh = (settings["id"] for settings in fake.settings)
    assert resumed == first
    assert fresh != first
    assert all(settings["resume"] == "allow" for settings in fake.settings)
    assert (tmp_path / WANDB_RUN_ID_FILE).read_text().strip() == fresh


def test_resuming_a_folder_without_a_stored_id_starts_a_new_wandb_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import wandb

    fake = RecordingInit(online_fails=False)
    monkeypatch.setattr(wandb, "init", fake)
    start_tracker(wandb_logger("offline"), tmp_path / "run", "run", {}, tags=[], resume=True)
    assert fake.settings[0]["id"] == (tmp_path / "run" / WANDB_RUN_ID_FILE).read_text().strip()
