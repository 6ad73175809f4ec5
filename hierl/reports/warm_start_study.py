"""Does a CQL warm start help? Validation Sharpe of paired runs (same seed, same budget), summarised over seeds.

The study (`experiments/warm_start_study.py`) trains, per seed, one run from scratch and one warm-started from a
CQL run, identical otherwise: PPO on one asset class (warm-started from CQL on TradingEnv), or the SAC
meta-controller (warm-started from CQL on PortfolioEnv). This module reads their run folders and answers with
numbers; `agent` ("PPO" by default, or "SAC") only labels the steps in the table, the reading and the plot:

- at every step N of the shared evaluation schedule, each arm's validation Sharpe ratio (`validation_history.json`),
  its mean and sample standard deviation over seeds, and the paired difference warm - scratch per seed with its
  mean and a 95% percentile-bootstrap interval of that mean (`hierl.evaluation.seeds.bootstrap_mean_ci`:
  resample the per-seed differences with replacement, 10,000 times, seeded);
- the same for the selected model (the best validation score of the run), read from `metrics.json` as
  `val/sharpe` only.

Validation only: the test block is never read here, so the study can be rerun and reread without spending it.
Both runs of a seed get the same `seed` (environments, network initialisation, PPO's sampling), so pairing by
seed takes out what they share; that is why the interval is on the per-seed differences rather than on two means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hierl.errors import StudyInputError
from hierl.evaluation.seeds import BOOTSTRAP_METHOD, CONFIDENCE, DEFAULT_RESAMPLES, bootstrap_mean_ci, sample_std
from hierl.run.folder import INIT_FILE as INIT_FILE
from hierl.run.folder import RunFolder

SCRATCH = "scratch"
WARM = "warm"
ARMS = (SCRATCH, WARM)
METRIC = "sharpe"
SELECTED_KEY = "val/sharpe"
PAIRED_METHOD = f"paired difference warm - scratch per seed; {BOOTSTRAP_METHOD} of those differences"


@dataclass(frozen=True)
class ArmRun:
    """What the study reads from one finished PPO or SAC run folder: validation scores only."""

    seed: int
    run_dir: Path
    history: dict[int, float]
    selected: float
    warm_started: bool


def read_arm_run(run_dir: Path, seed: int, metric: str = METRIC) -> ArmRun:
    """The validation `metric` at every evaluated timestep and the selected model's `val/sharpe` of a run folder."""
    folder = RunFolder(run_dir)
    for path in (folder.validation_history_path, folder.metrics_path):
        if not path.is_file():
            raise StudyInputError(f"{path} is missing: {run_dir} is not a finished run folder")
    history = {int(row["timestep"]): float(row[metric]) for row in folder.read_validation_history()}
    selected = float(folder.read_metrics()[SELECTED_KEY])
    return ArmRun(seed, run_dir, history, selected, folder.init_path.is_file())


@dataclass(frozen=True)
class PairedSummary:
    """One quantity of both arms over the same seeds; `std` (ddof=1) is None with a single seed."""

    seeds: list[int]
    scratch: list[float]
    warm: list[float]
    scratch_mean: float
    scratch_std: float | None
    warm_mean: float
    warm_std: float | None
    diff_mean: float
    diff_std: float | None
    diff_ci_low: float
    diff_ci_high: float
    warm_better: int


def paired_summary(scratch: Mapping[int, float], warm: Mapping[int, float], n_resamples: int) -> PairedSummary:
    """Means, spreads and the bootstrap interval of the mean paired difference over the seeds of both arms."""
    seeds = sorted(scratch)
    if sorted(warm) != seeds or not seeds:
        raise StudyInputError(f"the arms must have the same seeds: scratch {sorted(scratch)}, warm {sorted(warm)}")
    a = np.array([scratch[s] for s in seeds], dtype=np.float64)
    b = np.array([warm[s] for s in seeds], dtype=np.float64)
    diff = b - a
    low, high = bootstrap_mean_ci(diff, n_resamples, CONFIDENCE, seed=0)
    return PairedSummary(
        seeds=seeds,
        scratch=a.tolist(),
        warm=b.tolist(),
        scratch_mean=float(a.mean()),
        scratch_std=sample_std(a),
        warm_mean=float(b.mean()),
        warm_std=sample_std(b),
        diff_mean=float(diff.mean()),
        diff_std=sample_std(diff),
        diff_ci_low=low,
        diff_ci_high=high,
        warm_better=int((diff > 0).sum()),
    )


@dataclass(frozen=True)
class StudySummary:
    """The study's numbers: per evaluation step, and for the selected model."""

    metric: str
    seeds: list[int]
    steps: list[int]
    per_step: list[PairedSummary]
    selected: PairedSummary
    method: str
    confidence: float
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise_study(
    runs: Mapping[str, Sequence[ArmRun]], metric: str = METRIC, n_resamples: int = DEFAULT_RESAMPLES
) -> StudySummary:
    """Pair the arms' runs by seed and summarise every evaluation step they all share, and the selected model.

    Every run of both arms must have been evaluated at the same timesteps (same `n_envs`, `n_steps`,
    `eval_freq` and budget); a step some run lacks would compare different seeds, so it is refused.
    """
    by_arm = {arm: {run.seed: run for run in runs.get(arm, ())} for arm in ARMS}
    seeds = sorted(by_arm[SCRATCH])
    if not seeds or sorted(by_arm[WARM]) != seeds:
        raise StudyInputError(f"both arms need the same seeds: scratch {seeds}, warm {sorted(by_arm[WARM])}")
    schedules = {(arm, seed): tuple(sorted(run.history)) for arm in ARMS for seed, run in by_arm[arm].items()}
    steps = schedules[(SCRATCH, seeds[0])]
    differing = [f"{arm} seed {seed}" for (arm, seed), schedule in schedules.items() if schedule != steps]
    if differing or not steps:
        raise StudyInputError(
            f"runs evaluated at other steps than scratch seed {seeds[0]} {list(steps)}: {', '.join(differing)}; "
            "train every run with the same n_envs, n_steps, eval_freq and total_timesteps (and no early stopping)"
        )
    per_step = [
        paired_summary(
            {s: by_arm[SCRATCH][s].history[step] for s in seeds},
            {s: by_arm[WARM][s].history[step] for s in seeds},
            n_resamples,
        )
        for step in steps
    ]
    selected = paired_summary(
        {s: by_arm[SCRATCH][s].selected for s in seeds}, {s: by_arm[WARM][s].selected for s in seeds}, n_resamples
    )
    return StudySummary(metric, seeds, list(steps), per_step, selected, PAIRED_METHOD, CONFIDENCE, n_resamples)


def _mean_std(mean: float, std: float | None) -> str:
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _row(label: str, row: PairedSummary) -> str:
    cells = [
        label,
        _mean_std(row.scratch_mean, row.scratch_std),
        _mean_std(row.warm_mean, row.warm_std),
        f"{row.diff_mean:+.3f}",
        f"[{row.diff_ci_low:+.3f}, {row.diff_ci_high:+.3f}]",
        f"{row.warm_better}/{len(row.seeds)}",
    ]
    return "| " + " | ".join(cells) + " |"


def markdown_table(summary: StudySummary, agent: str = "PPO") -> str:
    """The study as a Markdown table: one row per evaluation step of `agent`, then the selected model."""
    metric, ci = summary.metric, f"{summary.confidence:.0%} CI"
    lines = [
        f"| {agent} steps | scratch val {metric} | warm val {metric} | warm - scratch | {ci} | warm better |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_row(f"{step:,}", row) for step, row in zip(summary.steps, summary.per_step, strict=True)]
    lines.append(_row("selected (best val)", summary.selected))
    return "\n".join(lines)


def reading(summary: StudySummary, references: Mapping[str, float], agent: str = "PPO") -> str:
    """Two sentences that say what the numbers support: worded from the paired intervals rather than the means
    alone, and set against the best of `references` (the CQL policy, the baselines) on the same block."""
    first, final, chosen = summary.per_step[0], summary.per_step[-1], summary.selected

    def verdict(row: PairedSummary) -> str:
        if row.diff_ci_low > 0:
            return "the warm start is ahead and the interval excludes zero"
        if row.diff_ci_high < 0:
            return "the warm start is behind and the interval excludes zero"
        return "the interval includes zero, so these seeds do not separate the two"

    n = len(summary.seeds)
    one = (
        f"The warm start's paired advantage in validation {summary.metric} is {first.diff_mean:+.3f} "
        f"[{first.diff_ci_low:+.3f}, {first.diff_ci_high:+.3f}] after {summary.steps[0]:,} {agent} steps and "
        f"{final.diff_mean:+.3f} [{final.diff_ci_low:+.3f}, {final.diff_ci_high:+.3f}] after {summary.steps[-1]:,} "
        f"({verdict(final)}), and {chosen.diff_mean:+.3f} [{chosen.diff_ci_low:+.3f}, {chosen.diff_ci_high:+.3f}] "
        "for the selected models."
    )
    finite = {name: value for name, value in references.items() if math.isfinite(value)}
    if finite:
        best = max(finite, key=lambda name: finite[name])
        below = [arm for arm in ARMS if getattr(final, f"{arm}_mean") < finite[best]]
        standing = (
            f"both arms' final means ({final.scratch_mean:.3f} scratch, {final.warm_mean:.3f} warm) stay below "
            if len(below) == len(ARMS)
            else f"the final means ({final.scratch_mean:.3f} scratch, {final.warm_mean:.3f} warm) compare with "
        )
        context = f"{standing}{best}'s {finite[best]:.3f} on the same block, and "
    else:
        context = ""
    two = (
        f"Read it as a measurement at these budgets on the sample data, not a general claim: {context}with {n} "
        "seeds the percentile bootstrap is narrow and optimistic."
    )
    return f"{one} {two}"


def plot_study(
    summary: StudySummary, title: str, references: Mapping[str, float] | None = None, agent: str = "PPO"
) -> Figure:
    """Mean validation metric vs `agent` steps per arm, with a band of ± one standard deviation over seeds.

    `references` (name -> value) are drawn as dashed lines: the CQL policy and the baselines on the same block
    show whether either arm learned more than they already score.
    """
    figure = Figure(figsize=(7, 4), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    steps = np.array(summary.steps, dtype=np.float64)
    for arm, colour in ((SCRATCH, "tab:blue"), (WARM, "tab:orange")):
        means = np.array([getattr(row, f"{arm}_mean") for row in summary.per_step])
        stds = np.array([getattr(row, f"{arm}_std") or 0.0 for row in summary.per_step])
        axes.plot(steps, means, marker="o", color=colour, label=f"{arm} (mean of {len(summary.seeds)} seeds)")
        axes.fill_between(steps, means - stds, means + stds, color=colour, alpha=0.2, linewidth=0)
    for (name, value), colour in zip(
        (references or {}).items(), ("tab:green", "tab:red", "tab:purple", "tab:brown"), strict=False
    ):
        axes.axhline(value, color=colour, linestyle="--", linewidth=1.0, label=f"{name} {value:.2f}")
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.set_xlabel(f"{agent} timesteps")
    axes.set_ylabel(f"validation {summary.metric} (± 1 sd)")
    axes.set_title(title)
    axes.legend(fontsize="small")
    return figure


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


def study_document(
    summary: StudySummary,
    title: str,
    setup: Sequence[str],
    references: Mapping[str, float],
    plot_file: str | None,
    agent: str = "PPO",
) -> str:
    """The Markdown page: what was run, the table, how the interval is computed, the reading, the plot."""
    parts = [
        f"# {title}",
        "\n".join(f"- {line}" for line in setup),
        markdown_table(summary, agent),
        f"Cells are mean ± sample standard deviation over seeds {summary.seeds}. `warm - scratch` is the mean of "
        f"the per-seed paired differences; the {summary.confidence:.0%} interval is a {BOOTSTRAP_METHOD} "
        f"(differences resampled with replacement, {summary.n_resamples:,} resamples, seeded). `warm better` "
        "counts seeds whose warm run scored higher. Validation block only: this study never reads test metrics.",
        reading(summary, references, agent),
    ]
    if plot_file is not None:
        parts.append(f"![mean validation {summary.metric} vs {agent} steps]({plot_file})")
    return "\n\n".join(parts) + "\n"
