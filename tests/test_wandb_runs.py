"""W&B runs that travel: an offline run folder holds its artefacts (staged under `<run>/wandb/`, not in the home
folder), artefacts have stable names with `best`/`latest` aliases, plots are image media, the test backtest is a
table, the job type and sweep trial are recorded, and the console carries few `wandb:` lines."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from runs import hierl_train, run_ok
from test_tracking import wandb_records

from hierl.config.loading import load_config
from hierl.run.folder import RunFolder
from hierl.run.lifecycle import log_run_artifacts
from hierl.tracking import trackers
from hierl.tracking.trackers import WandbTracker, tracked_run
from hierl.tracking.wandb_run import SweepTrial, artifact_name, job_type

MODEL_BYTES = b"hierl-model-bytes-0123456789"
PLOTS = ("equity_curve_test.png", "equity_curve_val.png", "learning_curve.png")
WANDB_VARIABLES = ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_ARTIFACT_DIR", "WANDB_SILENT")


def isolate_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """HOME at a tmp folder and no wandb/XDG folder settings, so wandb's defaults point into `home`."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name in (*WANDB_VARIABLES, "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)


def write_run_files(run_dir: Path) -> None:
    """A finished run's files as the lifecycle writes them: the model, the plots, the backtest of two splits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir.mkdir(parents=True)
    (run_dir / "best_model.zip").write_bytes(MODEL_BYTES)
    for name in PLOTS:
        figure = plt.figure(figsize=(2, 2))
        plt.plot([1, 2, 3])
        figure.savefig(run_dir / name)
        plt.close(figure)
    pl.DataFrame(
        {
            "split": ["val", "test", "test", "test"],
            "date": [dt.date(2020, 1, d) for d in (1, 2, 3, 6)],
            "nav": [1.0, 1.01, 0.99, 1.02],
        }
    ).write_parquet(run_dir / "backtest.parquet")


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, str | None]]]:
    """A real offline W&B run opened by `tracked_run` (ppo on equity) that logs a run folder's artefacts; the run
    folder, the tmp HOME, and the wandb variables as they were after the run."""
    root = tmp_path_factory.mktemp("wandb_runs")
    home, run_dir = root / "home", root / "run"
    home.mkdir()
    write_run_files(run_dir)
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_home(monkeypatch, home)
        cfg = load_config(["logger=wandb", "agent=ppo", "asset=equity"], output_dir=str(run_dir))
        with tracked_run(cfg, run_dir) as tracker:
            tracker.log({"val/sharpe": 0.5}, step=1)
            log_run_artifacts(tracker, RunFolder(run_dir), run_dir / "best_model.zip")
        after = {name: os.environ.get(name) for name in WANDB_VARIABLES}
        yield run_dir, home, after


def records_of(run_dir: Path) -> dict[str, list[Any]]:
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    by_kind: dict[str, list[Any]] = {}
    for record in wandb_records(path):
        by_kind.setdefault(record.WhichOneof("record_type"), []).append(record)
    return by_kind


def test_the_offline_run_folder_holds_its_artefacts_and_the_home_folder_none(
    offline_run: tuple[Path, Path, dict[str, str | None]],
) -> None:
    run_dir, home, _ = offline_run
    wandb_dir = run_dir / "wandb"
    staged = [p for p in wandb_dir.rglob("*") if p.is_file() and p.read_bytes() == MODEL_BYTES]
    assert staged, "the model's staged copy is not under <run>/wandb/"
    # Every file an artefact points at is inside the run folder.
    local_paths = [c.local_path for r in records_of(run_dir)["artifact"] for c in r.artifact.manifest.contents]
    assert local_paths and all(Path(p).is_relative_to(wandb_dir) for p in local_paths)
    assert not (home / ".local" / "share" / "wandb").exists()
    assert not (home / ".cache" / "wandb").exists()


def test_the_wandb_environment_is_restored_after_the_run(
    offline_run: tuple[Path, Path, dict[str, str | None]],
) -> None:
    _, _, after = offline_run
    assert after == dict.fromkeys(WANDB_VARIABLES)


def test_artefacts_have_stable_names_and_the_model_the_best_and_latest_aliases(
    offline_run: tuple[Path, Path, dict[str, str | None]],
) -> None:
    run_dir, _, _ = offline_run
    artifacts = {r.artifact.name: r.artifact for r in records_of(run_dir)["artifact"]}
    model = artifacts["equity-ppo-model"]
    assert model.type == "model"
    assert set(model.aliases) == {"best", "latest"}
    assert [c.path for c in model.manifest.contents] == ["best_model.zip"]
    assert {"equity-ppo-plots", "equity-ppo-results"} <= set(artifacts)


def test_plots_are_image_media_and_the_test_backtest_a_table(
    offline_run: tuple[Path, Path, dict[str, str | None]],
) -> None:
    run_dir, _, _ = offline_run
    (files,) = run_dir.glob("wandb/offline-run-*/files")
    images = sorted(p.name.split("_")[:-2] for p in files.glob("media/images/plots/*.png"))
    assert images == sorted(Path(name).stem.split("_") for name in PLOTS)
    (table_path,) = files.glob("media/table/backtest/test_*.table.json")
    table = json.loads(table_path.read_text())
    assert table["columns"] == ["date", "nav"]
    assert [row[0] for row in table["data"]] == ["2020-01-02", "2020-01-03", "2020-01-06"]


def test_a_single_train_run_has_the_train_job_type(offline_run: tuple[Path, Path, dict[str, str | None]]) -> None:
    run_dir, _, _ = offline_run
    run = records_of(run_dir)["run"][0].run
    assert run.job_type == "train"
    assert run.display_name.startswith("equity__ppo__0__")


@pytest.mark.parametrize(
    ("run_dir", "agent", "scope", "is_trial", "expected"),
    [
        ("out/run", "ppo", "equity", False, "train"),
        ("out/run", "ppo", "equity", True, "trial"),
        ("out/job/sleeves/equity", "ppo", "equity", False, "sleeve"),
        ("out/job/sleeves/equity/seed_1", "ppo", "equity", True, "sleeve"),
        ("out/run", "sac", "hierarchy", False, "meta"),
        ("out/run", "cql", "hierarchy", False, "meta"),
        ("out/wf/folds/fold_2/ppo/equity", "ppo", "equity", False, "walk_forward_fold"),
        ("out/wf/folds/fold_0/sac/seed_3", "sac", "hierarchy", False, "walk_forward_fold"),
    ],
)
def test_the_job_type_follows_what_runs(run_dir: str, agent: str, scope: str, is_trial: bool, expected: str) -> None:
    assert job_type(Path(run_dir), agent, scope, is_trial) == expected


def test_artefact_names_are_the_same_in_every_run() -> None:
    assert artifact_name("equity", "ppo", "best_model") == "equity-ppo-model"
    assert artifact_name("hierarchy", "sac", "best_model") == "hierarchy-sac-model"
    assert artifact_name("equity", "ppo", "best_model_obs_scaling") == "equity-ppo-best-model-obs-scaling"


class FakeRun:
    """Stands in for a `wandb.Run`: records logged artefacts and registry links."""

    def __init__(self, offline: bool, tmp: Path) -> None:
        self.offline = offline
        self.dir = str(tmp / "offline-run-x" / "files")
        self.logged: list[tuple[str, list[str]]] = []
        self.links: list[tuple[str, str, list[str] | None]] = []
        self.finished: int | None = None

    def log_artifact(self, artifact: Any, aliases: list[str] | None = None) -> None:
        self.logged.append((artifact.name, list(aliases or [])))

    def link_artifact(self, artifact: Any, target_path: str, aliases: list[str] | None = None) -> None:
        self.links.append((artifact.name, target_path, aliases))

    def finish(self, exit_code: int = 0) -> None:
        self.finished = exit_code


@pytest.mark.parametrize("offline", [True, False])
def test_the_model_is_linked_to_the_registry_only_online(
    offline: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "best_model.zip").write_bytes(MODEL_BYTES)
    (tmp_path / "metrics.json").write_text("{}")
    run = FakeRun(offline, tmp_path)
    tracker = WandbTracker(run, scope="hierarchy", agent="sac")
    tracker.log_artifact("best_model", "model", [tmp_path / "best_model.zip"])
    tracker.log_artifact("metrics", "metrics", [tmp_path / "metrics.json"])
    assert run.logged == [("hierarchy-sac-model", ["best", "latest"]), ("hierarchy-sac-metrics", ["latest"])]
    expected = (
        [] if offline else [("hierarchy-sac-model", "wandb-registry-model/hierarchy-sac-model", ["best", "latest"])]
    )
    assert run.links == expected


class RecordingInit:
    """Stands in for `wandb.init`: records its settings, returns a `FakeRun`."""

    def __init__(self, tmp: Path) -> None:
        self.settings: list[dict[str, Any]] = []
        self.tmp = tmp

    def __call__(self, mode: str, **settings: Any) -> FakeRun:
        self.settings.append(settings)
        return FakeRun(mode == "offline", self.tmp)


def test_a_sweep_trial_carries_its_number_and_study_in_the_name_and_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import wandb

    fake = RecordingInit(tmp_path)
    monkeypatch.setattr(wandb, "init", fake)
    monkeypatch.setattr(trackers, "sweep_trial", lambda run_dir: SweepTrial(7, "ppo-equity-study", own_job=True))
    cfg = load_config(["logger=wandb", "agent=ppo", "asset=equity"], output_dir=str(tmp_path))
    with tracked_run(cfg, tmp_path):
        pass
    (settings,) = fake.settings
    assert settings["job_type"] == "trial"
    assert settings["name"].startswith("equity__ppo__0__") and settings["name"].endswith("__trial_7")
    assert settings["config"]["sweep.trial_number"] == 7
    assert settings["config"]["sweep.study_name"] == "ppo-equity-study"


def test_outside_a_sweep_no_trial_is_recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import wandb

    fake = RecordingInit(tmp_path)
    monkeypatch.setattr(wandb, "init", fake)
    cfg = load_config(["logger=wandb", "agent=sac"], output_dir=str(tmp_path))
    with tracked_run(cfg, tmp_path, scope="hierarchy"):
        pass
    (settings,) = fake.settings
    assert settings["job_type"] == "meta"
    assert "__trial_" not in settings["name"]
    assert not any(key.startswith("sweep.") for key in settings["config"])


@pytest.mark.slow
def test_a_smoke_train_with_wandb_is_quiet_and_keeps_its_model_in_the_run_folder(tmp_path: Path) -> None:
    home, run_dir = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (*WANDB_VARIABLES, "XDG_DATA_HOME", "XDG_CACHE_HOME")}
    env.update({"HOME": str(home), "WANDB_MODE": "offline"})
    command = hierl_train(
        "agent=ppo", "asset=equity", "debug=smoke", "data=synthetic", "logger=wandb", f"hydra.run.dir={run_dir}"
    )
    result = run_ok(command, timeout=300, env=env)
    output = result.stdout + result.stderr
    wandb_lines = [line for line in output.splitlines() if "wandb:" in line]
    assert len(wandb_lines) <= 3, wandb_lines
    assert output.count("wandb sync ") == 1
    model = (run_dir / "best_model.zip").read_bytes()
    assert any(p.read_bytes() == model for p in (run_dir / "wandb").rglob("*") if p.is_file())
    assert not (home / ".local" / "share" / "wandb").exists()
    by_kind = records_of(run_dir)
    assert by_kind["run"][0].run.job_type == "train"
    assert "equity-ppo-model" in {r.artifact.name for r in by_kind["artifact"]}
    assert list(run_dir.glob("wandb/offline-run-*/files/media/images/plots/equity_curve_test_*.png"))
