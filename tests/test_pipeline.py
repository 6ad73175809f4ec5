"""experiments/train_all_agents.py: CQL -> PPO (warm-started) -> SAC as Ray tasks, resumable from its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO
from runs import experiment, run_ok

from hierl.config.loading import load_config
from hierl.errors import ConfigError, UserError
from hierl.orchestration.execution import UnitOutcome
from hierl.orchestration.oof_signals import InnerUnit, SplitOutOfFold, SplitSignals
from hierl.orchestration.pipeline import pipeline_stages
from hierl.orchestration.ppo_stage import UNIT_CONFIG_FILE, finished_unit, run_in_folder
from hierl.tracking.run_state import read_state

CLASSES = ("commodity", "equity")  # data=synthetic's classes
COMMAND = experiment(
    "train_all_agents",
    "multistage.distributed=true",
    "multistage.num_workers=2",
    "debug=smoke",
    "data=synthetic",
    "multistage.seeds=[0]",
)


def unit_folders(run_dir: Path) -> list[Path]:
    return [
        *(run_dir / "cql" / c for c in CLASSES),
        *(run_dir / "ppo" / c for c in CLASSES),
        *(run_dir / "ppo" / "oof_0" / c for c in CLASSES),  # SAC's out-of-fold signals
        run_dir / "sac" / "seed_0",
    ]


@pytest.fixture(scope="module")
def pipeline_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, dict]]:
    run_dir = tmp_path_factory.mktemp("pipeline") / "run"
    run_ok([*COMMAND, f"hydra.run.dir={run_dir}"], cwd=REPO)
    states = {folder: read_state(folder) for folder in unit_folders(run_dir)}
    run_ok([*COMMAND, f"hydra.run.dir={run_dir}"], cwd=REPO)
    return run_dir, states


@pytest.mark.slow
def test_every_stage_writes_its_outputs_and_ppo_starts_from_cql(pipeline_runs: tuple[Path, dict]) -> None:
    run_dir, states = pipeline_runs
    assert all(state["status"] == "finished" for state in states.values())
    for asset_class in CLASSES:
        cql, ppo = run_dir / "cql" / asset_class, run_dir / "ppo" / asset_class
        assert (cql / "metrics.json").is_file()
        assert (ppo / "best_model.zip").is_file() and (ppo / "signals.parquet").is_file()
        # The PPO unit was composed with agent.init_from=<its class's CQL run>.
        assert json.loads((ppo / UNIT_CONFIG_FILE).read_text())["agent.init_from"] == str(cql)
    assert (run_dir / "signals.parquet").is_file()
    sac = run_dir / "sac" / "seed_0"
    for name in ("best_model.zip", "metrics.json", "backtest.parquet", "baselines.parquet"):
        assert (sac / name).is_file()
    summary = json.loads((run_dir / "pipeline_summary.json").read_text())
    assert summary["failed"] == [] and summary["distributed"] is True
    assert set(summary["units"]) == {
        "cql/commodity",
        "cql/equity",
        "ppo/commodity/seed_0",
        "ppo/equity/seed_0",
        "ppo/oof_0/commodity/seed_0",
        "ppo/oof_0/equity/seed_0",
        "sac/seed_0",
    }
    # The inner units' test blocks lie inside the training block: listed, but with no test metrics.
    assert "metrics" not in summary["units"]["ppo/oof_0/equity/seed_0"]
    sac_metrics = json.loads((sac / "metrics.json").read_text())
    assert summary["units"]["sac/seed_0"]["metrics"]["test/sharpe"] == sac_metrics["test/sharpe"]


@pytest.mark.slow
def test_sac_trains_on_out_of_fold_signals_of_units_without_the_cql_warm_start(
    pipeline_runs: tuple[Path, dict],
) -> None:
    run_dir, _ = pipeline_runs
    used = pl.read_parquet(run_dir / "sac" / "seed_0" / "signals.parquet")
    assert used.equals(pl.read_parquet(run_dir / "ppo" / "signals_seed_0.parquet"))
    train = used.filter(pl.col("split") == "train")
    assert set(train["source_fold"].unique().to_list()) == {"ppo/oof_0"}
    assert (train["source_train_end"] < train["date"]).all()
    for asset_class in CLASSES:
        inner = run_dir / "ppo" / "oof_0" / asset_class
        # The CQL model saw the whole training block, the inner test block included, so no inner unit starts from it.
        assert json.loads((inner / UNIT_CONFIG_FILE).read_text())["agent.init_from"] is None
        trained_to = json.loads((inner / "data_fingerprint.json").read_text())["splits"]["train"]["end"]
        assert str(train.filter(pl.col("asset_class") == asset_class)["date"].min()) > trained_to


@pytest.mark.slow
def test_a_second_run_in_the_same_folder_redoes_no_finished_unit(pipeline_runs: tuple[Path, dict]) -> None:
    _, states = pipeline_runs
    for folder, before in states.items():
        assert read_state(folder) == before, f"{folder} was run again"


def test_stages_are_checked_before_anything_runs() -> None:
    cfg = load_config(["debug=smoke"])
    assert pipeline_stages(cfg) == ["cql", "ppo", "sac"]
    cfg.multistage.stages = ["sac", "ppo"]
    assert pipeline_stages(cfg) == ["ppo", "sac"]
    for bad in (["sac"], ["ppo", "td3"], []):
        cfg.multistage.stages = bad
        with pytest.raises(ConfigError, match=r"multistage\.stages"):
            pipeline_stages(cfg)


def test_a_finished_unit_is_reused_only_with_the_same_config(tmp_path: Path) -> None:
    cfg = load_config(["debug=smoke"])
    assert not finished_unit(tmp_path, cfg)
    assert run_in_folder(tmp_path, cfg, lambda: 42) == 42
    assert finished_unit(tmp_path, cfg)
    cfg.agent.learning_rate = 1e-2
    with pytest.raises(UserError, match=r"agent.learning_rate"):
        finished_unit(tmp_path, cfg)


def test_a_failing_unit_is_recorded_as_failed_and_raised(tmp_path: Path) -> None:
    cfg = load_config(["debug=smoke"])

    def fail() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_in_folder(tmp_path, cfg, fail)
    state = read_state(tmp_path)
    assert state["status"] == "failed" and "boom" in state["error"]
    assert not finished_unit(tmp_path, cfg)


def test_a_failed_inner_unit_stops_the_out_of_fold_signals_naming_it(tmp_path: Path) -> None:
    plan = SplitOutOfFold("ppo", (), embargo=1)
    units = (
        InnerUnit("ppo/oof_0/equity/seed_0", tmp_path / "a", UnitOutcome("ppo/oof_0/equity/seed_0", value={})),
        InnerUnit("ppo/oof_0/index/seed_0", tmp_path / "b", UnitOutcome("ppo/oof_0/index/seed_0", error="boom")),
    )
    with pytest.raises(UserError, match=r"need every inner PPO unit, but ppo/oof_0/index/seed_0: boom$"):
        SplitSignals(plan, {}, units, ()).signals()
