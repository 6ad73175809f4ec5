"""The outcome of a sweep: best trial(s) and trial counts, logged and written as `optimization_results.yaml`.

The sweep chooses on the value its jobs return (the validation block, for hierl); the summary also says where the
best trial ran, with which overrides, and the command that tests the chosen configuration once
(`hydra.sweeper.test_command`).
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml

from hydra_plugins.hierl_optuna_sweeper.errors import SweeperConfigError

RESULTS_FILE = "optimization_results.yaml"
# User attributes the sweeper sets on each trial it launches, so any worker's summary can name them.
OVERRIDES_ATTR = "overrides"
RUN_DIR_ATTR = "run_dir"


@dataclass(frozen=True)
class BestTrial:
    """A trial on the Pareto front (the single best trial when there is one objective): its run folder, the overrides
    its job ran with, and the command that tests it (None without `hydra.sweeper.test_command`)."""

    number: int
    params: dict[str, Any]
    values: list[float]
    run_dir: str | None = None
    overrides: list[str] = field(default_factory=list)
    test_command: str | None = None


def format_test_command(template: str, run_dir: str, overrides: list[str]) -> str:
    """`hydra.sweeper.test_command` for one trial: `{run_dir}` is its run folder, `{overrides}` its overrides, both
    quoted for a POSIX shell."""
    try:
        return template.format(run_dir=shlex.quote(run_dir), overrides=" ".join(shlex.quote(o) for o in overrides))
    except (KeyError, IndexError, ValueError) as error:
        raise SweeperConfigError(
            f"hydra.sweeper.test_command={template!r} cannot be filled in ({type(error).__name__}: {error}); it may "
            "hold {run_dir} and {overrides}, and {{ }} for literal braces."
        ) from None


@dataclass(frozen=True)
class SweepSummary:
    """What the sweeper returns: the study, its best trial(s), and how many trials ended in each state."""

    study_name: str
    storage: str
    directions: list[str]
    best_trials: list[BestTrial] = field(default_factory=list)
    trials_by_state: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The YAML layout: `best_params`/`best_value` for one objective, `best_trials` for several."""
        out: dict[str, Any] = {"study_name": self.study_name, "storage": self.storage, "directions": self.directions}
        if len(self.directions) == 1:
            best = self.best_trials[0] if self.best_trials else None
            out["best_trial"] = best.number if best else None
            out["best_params"] = best.params if best else None
            out["best_value"] = best.values[0] if best else None
            out["best_run_dir"] = best.run_dir if best else None
            out["best_overrides"] = best.overrides if best else None
            out["test_command"] = best.test_command if best else None
        else:
            out["best_trials"] = [asdict(trial) for trial in self.best_trials]
        out["trials_by_state"] = self.trials_by_state
        return out


def summarize(study: optuna.Study, storage: str, test_command: str | None = None) -> SweepSummary:
    """Best trial(s) of the whole study, earlier runs and other workers included."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(trial.state.name for trial in trials)
    best = [_best_trial(t, test_command) for t in study.best_trials]
    return SweepSummary(
        study_name=study.study_name,
        storage=storage,
        directions=[d.name.lower() for d in study.directions],
        best_trials=sorted(best, key=lambda t: t.number),
        trials_by_state={state: counts[state] for state in sorted(counts)},
    )


def _best_trial(trial: optuna.trial.FrozenTrial, test_command: str | None) -> BestTrial:
    run_dir = trial.user_attrs.get(RUN_DIR_ATTR)
    overrides = [str(o) for o in trial.user_attrs.get(OVERRIDES_ATTR, [])]
    command = None
    if test_command is not None and run_dir is not None:
        command = format_test_command(test_command, run_dir, overrides)
    return BestTrial(trial.number, dict(trial.params), list(trial.values or []), run_dir, overrides, command)


def write_results(summary: SweepSummary, sweep_dir: Path) -> Path:
    """Write the summary atomically, so a reader never sees half a file."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / RESULTS_FILE
    # One line per value however long (a test command is copied from here into a shell), keys in their order.
    text = yaml.safe_dump(summary.as_dict(), sort_keys=False, allow_unicode=True, width=1_000_000)
    with tempfile.NamedTemporaryFile("w", dir=sweep_dir, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)
    return path
