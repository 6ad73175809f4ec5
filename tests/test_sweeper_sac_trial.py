"""Only the job's own stage reports to its trial: a SAC trial of `hparams_search=sac_optuna` reports its own
validation scores (so it can be pruned), not those of the PPO sleeves it trains inside its job; it skips the test
block, and the summary names the command that tests the best trial once."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from conftest import REPO
from omegaconf import OmegaConf
from runs import hierl_train, read_json, run_ok


@pytest.mark.slow
def test_a_sac_trial_reports_its_own_validations_and_skips_the_test_block(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    command = hierl_train(
        "-m",
        "experiment=hierarchy",
        "hparams_search=sac_optuna",
        "debug=smoke",
        "hydra.sweeper.n_trials=1",
        f"hydra.sweep.dir={sweep_dir}",
    )
    result = run_ok(command, timeout=900, cwd=REPO)
    assert "is already reported" not in result.stderr, "a sleeve reported to the SAC trial"

    (trial,) = optuna.load_study(study_name="sac", storage=f"sqlite:///{sweep_dir}/optuna.db").get_trials()
    history = read_json(sweep_dir / "0" / "validation_history.json")
    assert trial.intermediate_values == {int(row["timestep"]): row["sharpe"] for row in history}
    assert (sweep_dir / "0" / "sleeves").is_dir(), "the sleeves were trained inside the trial"

    metrics = read_json(sweep_dir / "0" / "metrics.json")
    assert "val/sharpe" in metrics and not [key for key in metrics if key.startswith("test/")]
    summary = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))
    assert isinstance(summary, dict)
    assert summary["best_run_dir"] == str(sweep_dir / "0")
    assert summary["test_command"].startswith("python -m hierl.train experiment=hierarchy hparams_search=sac_optuna")
    assert summary["test_command"].endswith(" evaluate_test=true")


class Reporter:
    def __init__(self, run_dir: Path | None) -> None:
        self.run_dir = run_dir
        self.reports: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))


def test_only_the_stage_writing_the_jobs_own_folder_gets_the_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hierl.agents import trial_reporting

    reporter = Reporter(tmp_path / "job")
    monkeypatch.setattr(trial_reporting, "current_trial_reporter", lambda: reporter)
    assert trial_reporting.job_trial_reporter(tmp_path / "job") is reporter
    assert trial_reporting.job_trial_reporter(tmp_path / "job" / "sleeves" / "equity") is None
    assert trial_reporting.report_to_trial(tmp_path / "job" / "sleeves" / "equity") == []
    (callback,) = trial_reporting.report_to_trial(tmp_path / "job")
    assert isinstance(callback, trial_reporting.ReportToTrial) and callback.reporter is reporter

    unnamed = Reporter(None)  # a sweeper that does not say which folder is the job's: every stage reports
    monkeypatch.setattr(trial_reporting, "current_trial_reporter", lambda: unnamed)
    assert trial_reporting.job_trial_reporter(tmp_path / "anything") is unnamed


def test_report_score_skips_non_finite_scores_and_runs_outside_a_sweep() -> None:
    from hierl.agents.trial_reporting import report_score

    reporter = Reporter(None)
    report_score(reporter, float("nan"), 1)
    report_score(None, 1.0, 2)
    report_score(reporter, 0.5, 3)
    assert reporter.reports == [(0.5, 3)]
