"""The outcome of a sweep: best trial(s) and trial counts, logged and written as `optimization_results.yaml`."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

RESULTS_FILE = "optimization_results.yaml"


@dataclass(frozen=True)
class BestTrial:
    """A trial on the Pareto front (the single best trial when there is one objective)."""

    number: int
    params: dict[str, Any]
    values: list[float]


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
        else:
            out["best_trials"] = [asdict(trial) for trial in self.best_trials]
        out["trials_by_state"] = self.trials_by_state
        return out


def summarize(study: optuna.Study, storage: str) -> SweepSummary:
    """Best trial(s) of the whole study, earlier runs included."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(trial.state.name for trial in trials)
    best = [BestTrial(t.number, dict(t.params), list(t.values or [])) for t in study.best_trials]
    return SweepSummary(
        study_name=study.study_name,
        storage=storage,
        directions=[d.name.lower() for d in study.directions],
        best_trials=sorted(best, key=lambda t: t.number),
        trials_by_state={state: counts[state] for state in sorted(counts)},
    )


def write_results(summary: SweepSummary, sweep_dir: Path) -> Path:
    """Write the summary atomically, so a reader never sees half a file."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / RESULTS_FILE
    text = OmegaConf.to_yaml(OmegaConf.create(summary.as_dict()))
    with tempfile.NamedTemporaryFile("w", dir=sweep_dir, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)
    return path
