"""What every entrypoint does around its work: state file, JSON log, clear errors, a results table."""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from rich.console import Console

from hierl.config.loading import to_train_config
from hierl.config.moved_keys import rename_argv
from hierl.config.paths import config_dir
from hierl.config.run import TrainConfig
from hierl.config.store import register_configs
from hierl.errors import UserError
from hierl.evaluation.report import block_title, results_table
from hierl.tracking.files import disk_errno, output_error
from hierl.tracking.logging import get_logger, log_to_run_folder, stop_logging_to
from hierl.tracking.run_state import mark_failed, mark_finished, mark_running

log = get_logger()


class Outcome(Protocol):
    """A finished job: its folder and its flat metrics."""

    @property
    def run_dir(self) -> Path: ...

    @property
    def metrics(self) -> dict[str, float]: ...


def override_key(override: str) -> str:
    """The key a command-line override sets: `+data.path=x` -> `data.path`."""
    return override.split("=", 1)[0].lstrip("+~")


def add_default_overrides(**defaults: str) -> None:
    """Append `key=value` for each default the command line does not set itself (the scripts in `experiments/`)."""
    given = {override_key(arg) for arg in sys.argv[1:]}
    sys.argv.extend(f"{key}={value}" for key, value in defaults.items() if key not in given)


@contextmanager
def run_folder_bookkeeping(run_dir: Path) -> Iterator[None]:
    """The block's work logged to `<run_dir>/log.jsonl`, and its end in `run_state.json`: finished, or why not.

    Shared by every entrypoint (`run_job`) and every unit of a multi-stage run (`ppo_stage.run_in_folder`).
    """
    handler = log_to_run_folder(run_dir)
    mark_running(run_dir)
    try:
        yield
    except OSError as error:
        # A write that bypassed hierl's writers (a library's own file) on a full or read-only disk: the same one
        # line as hierl's, not a traceback.
        if disk_errno(error) is None:
            mark_failed(run_dir, error)
            raise
        target = Path(error.filename) if error.filename else run_dir / "the run's outputs"
        converted = output_error(target, error)
        mark_failed(run_dir, converted)
        raise converted from None
    except BaseException as error:
        mark_failed(run_dir, error)
        raise
    else:
        mark_finished(run_dir)
    finally:
        stop_logging_to(handler)


def typed_config(cfg: DictConfig) -> TrainConfig:
    """`to_train_config`, with a config mistake printed as one line like a job's (raised as is in a sweep)."""
    try:
        return to_train_config(cfg)
    except UserError as error:
        if in_multirun():
            raise
        remove_unstarted_run_folder(Path(HydraConfig.get().runtime.output_dir))
        raise SystemExit(f"error: {error}") from None


def remove_unstarted_run_folder(run_dir: Path) -> None:
    """Remove the folder Hydra made for a run that a config mistake stopped before it began: it holds only Hydra's
    `.hydra/`, and a run folder with no run in it only misleads `hierl.compare` and a later `resume=true`.
    A folder that holds anything else (a resumed run's files) is left as it is."""
    if run_dir.is_dir() and {entry.name for entry in run_dir.iterdir()} <= {".hydra"}:
        shutil.rmtree(run_dir, ignore_errors=True)


def run_job(run_dir: Path, optimized_metric: str, job: Callable[[], Outcome], title: str) -> float:
    """Run `job` with the run folder's bookkeeping; return `optimized_metric` (NaN when it is absent)."""
    try:
        with run_folder_bookkeeping(run_dir):
            outcome = job()
    except UserError as error:
        # The message is the whole story for a user mistake: once on stderr, and in run_state.json. In a sweep
        # the error is raised instead, so the sweeper records the failed trial and goes on with the others.
        if in_multirun():
            raise
        raise SystemExit(f"error: {error}") from None
    print_results(outcome, title)
    value = outcome.metrics.get(optimized_metric)
    if value is None:
        log.warning("optimized_metric %r is not among the run's metrics", optimized_metric)
        return math.nan
    return float(value)


SUMMARY_METRICS = ("sharpe", "ann_return", "ann_volatility", "max_drawdown", "cvar_95", "turnover")
# The console table adds the costs paid per year (single-class runs report it; other runs leave the column out).
CONSOLE_METRICS = (*SUMMARY_METRICS, "cost_annual")


def in_multirun() -> bool:
    """True inside a Hydra multirun job (a sweep), where one job's failure must not end the others."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def print_results(outcome: Outcome, title: str) -> None:
    """A short table of test metrics, agent against baselines, titled with the test block's dates, and where the
    run folder is."""
    # Imported here: the run-folder module pulls in torch, which a config mistake must not wait for.
    from hierl.run.folder import RunFolder

    rows: dict[str, dict[str, float]] = {}
    for key, value in outcome.metrics.items():
        parts = key.split("/")
        if parts[0] != "test" or parts[-1] not in CONSOLE_METRICS:
            continue
        name = "agent" if len(parts) == 2 else parts[2]
        rows.setdefault(name, {})[parts[-1]] = value
    # 120 columns hold the whole table (strategy names included) however narrow the terminal or log is.
    console = Console(file=sys.stdout, width=max(120, Console().width))
    if rows:
        dates = RunFolder(outcome.run_dir).split_dates("test")
        console.print(results_table(rows, block_title(title, "test", dates)))
    console.print(f"run folder: {outcome.run_dir}")


StageJob = Callable[[TrainConfig, list[str], Path], Outcome]
"""A multi-stage job: the composed config, the command line's overrides (to pass on to the units it composes), and
the run folder."""


def stage_entrypoint(job: StageJob, title: str) -> Callable[[], Any]:
    """A Hydra main over `conf/train.yaml` that runs `job` with the run folder's bookkeeping (for `experiments/`)."""
    register_configs()

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
    def hydra_main(cfg: DictConfig) -> float:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        config = typed_config(cfg)
        overrides = list(HydraConfig.get().overrides.task)
        return run_job(run_dir, config.optimized_metric, lambda: job(config, overrides, run_dir), title)

    def main() -> Any:
        rename_argv()
        return hydra_main()

    return main
