"""`python -m hierl.train`: compose the config, train and evaluate one agent, write the run folder.

Returns the configured `optimized_metric` so Hydra sweepers can optimise it. This module also owns what every
hierl command does to its command line before Hydra composes (`run_command`: hierl's own --help page, one line
for a group option that does not exist, the moved keys renamed) and the check that the extras a config will use
are installed (`check_extras`); the multi-stage commands (`hierl.train_all`, ...) use both.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hierl.config.moved_keys import rename_argv
from hierl.config.paths import config_dir

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from hierl.config.run import TrainConfig
    from hierl.entrypoint import Outcome

USAGE = "python -m hierl.train [group=option ...] [key=value ...]  (hierl-train): train, select and test one agent"
# The help page, relative to conf/; Hydra prints the same page for the commands that reach its own --help.
HELP_FILE = Path("hydra") / "help" / "hierl.yaml"
HELP_FLAGS = frozenset({"--help", "-h"})
# Command-line options that add config folders, whose groups may hold options conf/ does not have.
SEARCH_PATH_OPTIONS = frozenset({"--config-dir", "-cd", "--config-path", "-cp", "hydra.searchpath"})
# `group=option`, `+group=option` or a sweep over plain names (`group=a,b`); anything else is left to Hydra.
GROUP_CHOICE = re.compile(r"\+{0,2}(?P<group>\w+)=(?P<options>[\w.-]+(?:,[\w.-]+)*)")


def job_for(config: TrainConfig, run_dir: Path) -> Callable[[], Outcome]:
    """The stage the `agent` option trains: PPO per asset class, the SAC meta-controller, or CQL pretraining.

    The config is narrowed to the stage's typed config here, once, inside the job, so an agent and env that do
    not go together end the run like any other config mistake (one line, recorded in run_state.json). Each
    stage's module (torch, Stable-Baselines3, d3rlpy) is imported only here, after the config was checked.
    """
    from hierl.config.stages import cql_run, ppo_run, sac_run
    from hierl.errors import ConfigError

    name = config.agent.name
    if name == "ppo":
        from hierl.orchestration.asset_run import train_asset_agent

        return lambda: train_asset_agent(ppo_run(config), run_dir)
    if name == "sac":
        from hierl.orchestration.hierarchy_run import train_meta_controller

        return lambda: train_meta_controller(sac_run(config), run_dir)
    if name == "cql":
        from hierl.orchestration.cql_run import pretrain_cql

        return lambda: pretrain_cql(cql_run(config), run_dir)
    raise ConfigError(f"agent={name} has no training stage; use agent=ppo, sac or cql")


def check_extras(config: TrainConfig) -> None:
    """The extras this config will use are installed: W&B or TensorBoard for `logger=`, Ray for
    `multistage.distributed=true`. A missing one is one line naming `pip install 'hierl[<extra>]'`, raised before
    any data is read or model trained (the stages would find it only when they reach it)."""
    from hierl.orchestration.execution import require_ray
    from hierl.tracking.trackers import check_logger

    check_logger(config.logger)
    if config.multistage.distributed:
        require_ray()


def check_extras_before_the_run(config: TrainConfig, run_dir: Path) -> None:
    """`check_extras` for a single run, whose missing extra ends it like a config mistake (`typed_config`): one
    line, and the folder Hydra made for it removed, so that the same command with the same `hydra.run.dir` works
    once the extra is installed (a fresh run refuses a folder that holds a run). In a sweep it is raised as is, so
    the sweeper records the failed trial."""
    from hierl.entrypoint import in_multirun, remove_unstarted_run_folder
    from hierl.errors import UserError

    try:
        check_extras(config)
    except UserError as error:
        if in_multirun():
            raise
        remove_unstarted_run_folder(run_dir)
        raise SystemExit(f"error: {error}") from None


def _train(cfg: DictConfig) -> float:
    """The Hydra task: the typed config and its extras checked, then the stage's job with the run folder's
    bookkeeping."""
    from hydra.core.hydra_config import HydraConfig

    from hierl.entrypoint import run_job, typed_config

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = typed_config(cfg)
    check_extras_before_the_run(config, run_dir)
    from hierl.evaluation.report import run_title  # after the config check: the report imports the metrics

    title = run_title(config.agent.name, config.asset.name, config.seed, config.multistage.asset_classes)
    return run_job(run_dir, config.optimized_metric, job_for(config, run_dir), title=title)


def hydra_main() -> None:
    """The Hydra main over `conf/train.yaml`, made when it runs, so that `--help` and a mistyped group option
    (`run_command`) answer without importing Hydra, polars or the schemas."""
    import hydra

    from hierl.config.store import register_configs

    register_configs()
    hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")(_train)()


def help_page(usage: str) -> str:
    """The command's usage line, then hierl's page (`conf/hydra/help/hierl.yaml`), read without composing the
    config: Hydra's own --help composes it and lists every group's options through 130 copies of the config store
    (3 s), `*_schema` entries included."""
    page: str = yaml.safe_load((config_dir() / HELP_FILE).read_text(encoding="utf-8"))["template"]
    return f"usage: {usage}\n\n{page}"


def group_options() -> dict[str, list[str]]:
    """Every config group of `conf/` but Hydra's own, with its options (the YAML files in its folder)."""
    root = config_dir()
    return {
        folder.name: sorted(path.stem for path in folder.glob("*.yaml"))
        for folder in sorted(root.iterdir())
        if folder.is_dir() and folder.name != "hydra"
    }


def check_group_choices(args: Sequence[str]) -> None:
    """A `group=option` naming an option that `conf/<group>/` does not have stops here, in one line with the options.

    Hydra's own error is a dozen lines that also offer the `*_schema` entries `hierl.config.store` registers in
    each group (the schemas that type-check its options), which are not options. Command lines that add config
    folders (`--config-dir`, `hydra.searchpath`) are left to Hydra: their groups may hold more options.
    """
    if any(arg.split("=", 1)[0].lstrip("+") in SEARCH_PATH_OPTIONS for arg in args):
        return
    groups = group_options()
    for arg in args:
        match = GROUP_CHOICE.fullmatch(arg)
        if match is None or match["group"] not in groups:
            continue
        group, options = match["group"], groups[match["group"]]
        for option in match["options"].split(","):
            if option not in options and option != "null":
                raise SystemExit(f"error: {group}={option} is not an option of {group}; choose {', '.join(options)}")


def run_command(start_hydra: Callable[[], Any], usage: str, defaults: Mapping[str, str] | None = None) -> None:
    """What every hierl command does before it starts its Hydra main (`start_hydra`): `--help` prints hierl's page
    (and nothing runs), the command's `defaults` are added where the command line does not set them, the moved keys
    are renamed, and a group option that does not exist is one line."""
    if HELP_FLAGS & set(sys.argv[1:]):
        print(help_page(usage))
        return
    if defaults:
        from hierl.entrypoint import add_default_overrides

        add_default_overrides(**defaults)
    rename_argv()
    check_group_choices(sys.argv[1:])
    start_hydra()


def main() -> None:
    """Console-script entry (`hierl-train`)."""
    run_command(hydra_main, USAGE)


def main_with_defaults(**defaults: str) -> None:
    """`main` with overrides the command line has not set itself (for the thin scripts in `experiments/`)."""
    run_command(hydra_main, USAGE, defaults)


if __name__ == "__main__":
    main()
