"""experiments/warm_start_study.py at smoke budgets: the table's numbers are the run folders' validation histories,
the warm runs were warm-started, test metrics are never read, and a rerun reuses every finished run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from hierl.agents.cql import CQL_WEIGHTS_FILE
from hierl.errors import StudyInputError
from hierl.reports.warm_start_study import ArmRun, summarise_study

SEEDS = (0, 1)
ARMS = ("scratch", "warm")


def study_arguments(root: Path) -> list[str]:
    """The study script with its run and results folders under `root` and the test's seeds."""
    script = str(REPO / "experiments" / "warm_start_study.py")
    folders = ["--out", str(root / "runs"), "--results", str(root / "results")]
    return [sys.executable, script, *folders, "--seeds", *map(str, SEEDS)]


def study_command(root: Path) -> list[str]:
    return [
        *study_arguments(root),
        "--common",
        "debug=smoke",
        "--cql",
        "agent.total_timesteps=2000",
        "agent.n_steps=200",
        "agent.eval_freq=100",
    ]


def run_study(root: Path) -> None:
    result = subprocess.run(study_command(root), capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("warm_start_study")
    run_study(root)
    return root, json.loads((root / "results" / "warm_start.json").read_text())


def folder(root: Path, arm: str, seed: int) -> Path:
    return root / "runs" / "ppo" / "equity" / arm / f"seed_{seed}"


def history(root: Path, arm: str, seed: int) -> dict[int, float]:
    rows = json.loads((folder(root, arm, seed) / "validation_history.json").read_text())
    return {int(row["timestep"]): row["sharpe"] for row in rows}


@pytest.mark.slow
def test_the_table_is_the_validation_histories_averaged_over_seeds(study: tuple[Path, dict]) -> None:
    root, payload = study
    summary = payload["summary"]
    # debug=smoke: 2 envs x 256 steps per rollout, validation every 1024 of 2048 steps.
    assert summary["steps"] == [1024, 2048]
    assert summary["seeds"] == list(SEEDS)
    for step, row in zip(summary["steps"], summary["per_step"], strict=True):
        scratch = np.array([history(root, "scratch", s)[step] for s in SEEDS])
        warm = np.array([history(root, "warm", s)[step] for s in SEEDS])
        diff = warm - scratch
        assert row["scratch"] == pytest.approx(scratch.tolist(), abs=1e-12)
        assert row["scratch_mean"] == pytest.approx(np.mean(scratch), abs=1e-12)
        assert row["scratch_std"] == pytest.approx(np.std(scratch, ddof=1), abs=1e-12)
        assert row["warm_mean"] == pytest.approx(np.mean(warm), abs=1e-12)
        assert row["warm_std"] == pytest.approx(np.std(warm, ddof=1), abs=1e-12)
        assert row["diff_mean"] == pytest.approx(np.mean(diff), abs=1e-12)
        assert row["warm_better"] == int((diff > 0).sum())
        # With two seeds the bootstrap mean is d1, d2 (each with probability 1/4) or their average: its 2.5% and
        # 97.5% quantiles over 10,000 resamples are the smaller and the larger difference.
        assert row["diff_ci_low"] == pytest.approx(diff.min(), abs=1e-12)
        assert row["diff_ci_high"] == pytest.approx(diff.max(), abs=1e-12)

    # The selected model's validation Sharpe is the best validation evaluation of its run.
    selected = summary["selected"]
    for arm in ARMS:
        best = [max(history(root, arm, s).values()) for s in SEEDS]
        assert selected[arm] == pytest.approx(best, abs=1e-9)

    # The Markdown table shows the same numbers, one row per step and one for the selected models.
    table = [line for line in (root / "results" / "warm_start.md").read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(summary["steps"]) + 1
    first = summary["per_step"][0]
    assert table[1].split(" | ")[:4] == [
        "| 1,024",
        f"{first['scratch_mean']:.3f} ± {first['scratch_std']:.3f}",
        f"{first['warm_mean']:.3f} ± {first['warm_std']:.3f}",
        f"{first['diff_mean']:+.3f}",
    ]
    assert (root / "results" / "warm_start.png").stat().st_size > 0


@pytest.mark.slow
def test_warm_runs_are_warm_started_and_otherwise_identical(study: tuple[Path, dict]) -> None:
    root, _ = study
    cql_run = root / "runs" / "cql" / "equity"
    for seed in SEEDS:
        warm, scratch = folder(root, "warm", seed), folder(root, "scratch", seed)
        init = json.loads((warm / "init.json").read_text())
        assert Path(init["cql_run"]).resolve() == cql_run.resolve()
        assert not (scratch / "init.json").exists()
        configs = [json.loads((f / "unit_config.json").read_text()) for f in (scratch, warm)]
        differing = {k for k in configs[0].keys() | configs[1].keys() if configs[0].get(k) != configs[1].get(k)}
        assert differing == {"agent.init_from"}
        assert configs[0]["seed"] == configs[1]["seed"] == seed


@pytest.mark.slow
def test_a_rerun_reuses_every_run_and_never_reads_test_metrics(study: tuple[Path, dict]) -> None:
    root, payload = study
    # Without any test metric in the run folders, the rerun gives the same summary: none was read.
    metrics_files = [folder(root, arm, s) / "metrics.json" for arm in ARMS for s in SEEDS]
    metrics_files.append(root / "runs" / "cql" / "equity" / "metrics.json")
    for path in metrics_files:
        metrics = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in metrics.items() if not k.startswith("test/")}))
    models = [folder(root, arm, s) / "best_model.zip" for arm in ARMS for s in SEEDS]
    models.append(root / "runs" / "cql" / "equity" / CQL_WEIGHTS_FILE)
    written = {path: path.stat().st_mtime_ns for path in models}
    run_study(root)
    again = json.loads((root / "results" / "warm_start.json").read_text())
    assert again["summary"] == payload["summary"]
    assert {path: path.stat().st_mtime_ns for path in models} == written


def arm_run(seed: int, history: dict[int, float], warm: bool) -> ArmRun:
    return ArmRun(seed, Path(f"/runs/{seed}"), history, max(history.values()), warm)


def test_runs_evaluated_at_other_steps_are_refused() -> None:
    runs = {
        "scratch": [arm_run(0, {1024: 0.1, 2048: 0.2}, False), arm_run(1, {1024: 0.3, 2048: 0.1}, False)],
        "warm": [arm_run(0, {1024: 0.5, 2048: 0.6}, True), arm_run(1, {1024: 0.4}, True)],
    }
    with pytest.raises(StudyInputError, match="warm seed 1"):
        summarise_study(runs)


def test_the_arms_must_share_their_seeds() -> None:
    runs = {
        "scratch": [arm_run(0, {1024: 0.1}, False), arm_run(1, {1024: 0.3}, False)],
        "warm": [arm_run(0, {1024: 0.5}, True), arm_run(2, {1024: 0.4}, True)],
    }
    with pytest.raises(StudyInputError, match="same seeds"):
        summarise_study(runs)


def test_paired_differences_from_known_values() -> None:
    runs = {
        "scratch": [arm_run(s, {512: v}, False) for s, v in enumerate([0.1, 0.4, -0.2])],
        "warm": [arm_run(s, {512: v}, True) for s, v in enumerate([0.3, 0.3, 0.4])],
    }
    row = summarise_study(runs, n_resamples=2000).per_step[0]
    # Differences 0.2, -0.1, 0.6.
    assert row.diff_mean == pytest.approx(0.7 / 3)
    assert row.diff_std == pytest.approx(
        np.sqrt(((0.2 - 0.7 / 3) ** 2 + (-0.1 - 0.7 / 3) ** 2 + (0.6 - 0.7 / 3) ** 2) / 2)
    )
    assert row.warm_better == 2
    # Every draw equals the smallest (or the largest) difference with probability 1/27 > 2.5%, so the interval's
    # ends are the extreme differences.
    assert (row.diff_ci_low, row.diff_ci_high) == pytest.approx((-0.1, 0.6), abs=1e-12)


# --- `--stage sac`: the SAC meta-controller warm-started from CQL on PortfolioEnv. ---

SAC_CLASSES = ("equity", "index")


@pytest.fixture(scope="module")
def sac_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("warm_start_sac_study")
    command = [
        *study_arguments(root),
        "--stage",
        "sac",
        "--common",
        "debug=smoke",
        f"multistage.asset_classes=[{','.join(SAC_CLASSES)}]",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, json.loads((root / "results" / "warm_start_sac.json").read_text())


def sac_history(root: Path, arm: str, seed: int) -> dict[int, float]:
    rows = json.loads((root / "runs" / "sac" / arm / f"seed_{seed}" / "validation_history.json").read_text())
    return {int(row["timestep"]): row["sharpe"] for row in rows}


@pytest.mark.slow
def test_the_sac_study_pairs_meta_controllers_that_differ_by_the_warm_start_alone(sac_study: tuple[Path, dict]) -> None:
    root, payload = sac_study
    summary = payload["summary"]
    assert payload["agent"] == "sac" and payload["asset_classes"] == list(SAC_CLASSES)
    for step, row in zip(summary["steps"], summary["per_step"], strict=True):
        scratch = np.array([sac_history(root, "scratch", s)[step] for s in SEEDS])
        warm = np.array([sac_history(root, "warm", s)[step] for s in SEEDS])
        assert row["scratch_mean"] == pytest.approx(np.mean(scratch), abs=1e-12)
        assert row["warm_mean"] == pytest.approx(np.mean(warm), abs=1e-12)
        assert row["diff_mean"] == pytest.approx(np.mean(warm - scratch), abs=1e-12)

    cql_run = root / "runs" / "cql" / "hierarchy"
    signals = str(cql_run / "signals.parquet")
    for seed in SEEDS:
        warm, scratch = (root / "runs" / "sac" / arm / f"seed_{seed}" for arm in ("warm", "scratch"))
        init = json.loads((warm / "init.json").read_text())
        assert Path(init["cql_run"]).resolve() == cql_run.resolve() and init["method"] == "weight_copy"
        assert init["same_sleeve_signals"] is True and not (scratch / "init.json").exists()
        configs = [json.loads((f / "unit_config.json").read_text()) for f in (scratch, warm)]
        differing = {k for k in configs[0].keys() | configs[1].keys() if configs[0].get(k) != configs[1].get(k)}
        assert differing == {"agent.init_from"}
        # The sleeves were trained once, in the CQL run; both arms read its signals.
        assert configs[0]["agent.signals_path"] == signals and not (warm / "sleeves").exists()
    table = (root / "results" / "warm_start_sac.md").read_text()
    assert "| SAC steps |" in table and (root / "results" / "warm_start_sac.png").stat().st_size > 0
