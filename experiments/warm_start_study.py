"""From scratch vs warm-started from CQL, at equal fine-tuning budgets, over several seeds: PPO on one asset class
(the default), or the SAC meta-controller (`agent=sac`, or `--stage sac`).

    python experiments/warm_start_study.py hydra.run.dir=/tmp/warm_start_study \\
        "multistage.stage_overrides.ppo=['agent.total_timesteps=20480','agent.eval_freq=4096']" \\
        "multistage.stage_overrides.cql=['agent.total_timesteps=20000','agent.n_steps=3000','agent.eval_freq=500']"
    python experiments/warm_start_study.py --stage sac --out /tmp/warm_start_sac --sac agent.total_timesteps=8000

`experiment=warm_start` (conf/experiment/warm_start.yaml, the default here) sets the seeds (`multistage.seeds`,
one pair each); `asset=<class>` picks the class, any other override applies to every run (e.g. `debug=smoke`),
and `multistage.stage_overrides.ppo` / `.cql` apply to both PPO arms / the CQL pretraining only.

1. CQL is pretrained once for the asset class (seed 0) in `<run>/cql/<class>/`.
2. Per seed, two PPO runs identical but for the warm start: `<run>/ppo/<class>/scratch/seed_<s>/` and
   `<run>/ppo/<class>/warm/seed_<s>/` (the warm one with `agent.init_from=<run>/cql/<class>`).
3. Their validation histories are summarised (`hierl.reports.warm_start_study`) into `warm_start.md`,
   `warm_start.json` and `warm_start.png` in `paths.results_dir`. The test block is never read.

With `agent=sac` (`--stage sac`) the same three steps warm-start the SAC meta-controller instead:

1. CQL is pretrained once on the meta-controller's PortfolioEnv (`experiment=hierarchy agent=cql`, seed 0) in
   `<run>/cql/hierarchy/`; it trains the PPO sleeves there exactly as `experiment=hierarchy` would and writes their
   `signals.parquet`.
2. Per seed, two meta-controllers (`experiment=hierarchy`) identical but for `agent.init_from`:
   `<run>/sac/scratch/seed_<s>/` and `<run>/sac/warm/seed_<s>/`. Every one of them reads the CQL run's sleeve
   signals (`agent.signals_path`), so the sleeves are trained once and the arms differ by the warm start alone.
3. `warm_start_sac.md`, `warm_start_sac.json` and `warm_start_sac.png` in `paths.results_dir`.

`multistage.stage_overrides.sac` (`--sac`) applies to both SAC arms, `.cql` to the pretraining;
`multistage.asset_classes` picks the sleeves of every run.

Each stage's config is composed once (CQL, PPO) and every unit's is a copy of it with its seed, warm start and
folder. Every run is a unit folder of `hierl.orchestration.ppo_stage` (`unit_config.json`, `run_state.json`): a
folder finished with the same config is reused, so rerunning the same command finishes what is missing and
redoes nothing; a finished folder of another config is refused. `multistage.distributed=true` runs the PPO units
as Ray tasks.

The options of the earlier command line still work: `--out` (hydra.run.dir), `--results` (paths.results_dir),
`--asset`, `--seeds`, `--common`, `--ppo`, `--cql`, `--workers N`, and `--stage sac` (agent=sac) with `--sac`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hierl.config.run import CQLRunConfig, PPORunConfig, SACRunConfig, TrainConfig
from hierl.entrypoint import add_default_overrides, stage_entrypoint
from hierl.errors import UserError

if TYPE_CHECKING:
    from hierl.config.stages import CQLPortfolioRunConfig
    from hierl.reports.warm_start_study import ArmRun, StudySummary

ConfigT = TypeVar("ConfigT", bound=TrainConfig)

STUDY_NAME = "warm_start"
SAC_STUDY_NAME = "warm_start_sac"
CQL_SEED = 0
# Baselines drawn on the plot (all of them are in the Markdown and the JSON).
PLOTTED_BASELINES = ("buy_and_hold", "equal_weight")
SAC_PLOTTED_BASELINES = ("equal_weight", "inverse_volatility")
# The agents a study warm-starts (the `agent` of its command line; PPO by default).
STUDY_AGENTS = ("ppo", "sac")
# The groups the SAC study chooses for each of its runs itself (`experiment=hierarchy`, with agent=cql or sac).
HIERARCHY_GROUPS = frozenset({"agent", "env", "experiment"})


@dataclasses.dataclass(frozen=True)
class StudyOutcome:
    """The study's folder and its flat metrics (the selected models' mean validation Sharpe per arm)."""

    run_dir: Path
    metrics: dict[str, float]


def ppo_folder(out: Path, asset: str, arm: str, seed: int) -> Path:
    return out / "ppo" / asset / arm / f"seed_{seed}"


def budgets(cql: CQLRunConfig, ppo: PPORunConfig) -> dict[str, dict[str, Any]]:
    """The budget keys of both stages, as composed (so defaults the command line left alone are recorded too)."""
    return {
        "cql": {
            "seed": cql.seed,
            "offline_transitions": cql.agent.total_timesteps,
            "gradient_steps": cql.agent.n_steps,
            "batch_size": cql.agent.batch_size,
            "net_arch": list(cql.agent.net_arch),
            "eval_freq": cql.agent.eval_freq,
            "behaviour_mix": dict(cql.agent.behaviour_mix),
        },
        "ppo": {
            "total_timesteps": ppo.agent.total_timesteps,
            "eval_freq": ppo.agent.eval_freq,
            "n_envs": ppo.agent.n_envs,
            "n_steps": ppo.agent.n_steps,
            "net_arch": list(ppo.agent.net_arch),
            "learning_rate": ppo.agent.learning_rate,
        },
        "env": {"window": ppo.env.window, "episode_length": ppo.env.episode_length},
    }


def train_cql_unit(name: str, cfg: TrainConfig, folder: Path) -> dict[str, float]:
    """The CQL pretraining in `folder` (TradingEnv or PortfolioEnv, by `cfg.env`), or the metrics of its finished run
    of the same config.

    `pretrain_cql` restores torch's thread count when it ends, so a study that pretrains CQL here trains the same
    PPO runs as one that reuses a finished CQL folder (the warm start's cloning depends on the thread count)."""
    from hierl.orchestration.cql_run import pretrain_cql
    from hierl.orchestration.ppo_stage import reuse_or_run

    return reuse_or_run(name, folder, cfg, lambda: pretrain_cql(cfg, folder).metrics)


def train_ppo_unit(name: str, cfg: PPORunConfig, folder: Path) -> dict[str, float]:
    """One PPO arm of one seed in `folder`, or the metrics of its finished run of the same config."""
    from hierl.orchestration.asset_run import train_asset_agent
    from hierl.orchestration.ppo_stage import reuse_or_run

    return reuse_or_run(name, folder, cfg, lambda: train_asset_agent(cfg, folder).metrics)


def warm_started(cfg: PPORunConfig, cql_dir: Path) -> PPORunConfig:
    """The warm arm of a seed: the scratch arm's config plus `agent.init_from`."""
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, init_from=str(cql_dir)))


def run_study(outer: TrainConfig, overrides: list[str], run_dir: Path) -> StudyOutcome:
    """The study of the agent the command line names: PPO (the default) or the SAC meta-controller."""
    if outer.agent.name not in STUDY_AGENTS:
        raise UserError(
            f"agent={outer.agent.name}: the warm-start study warm-starts agent=ppo (the default) or agent=sac "
            "(--stage sac); the CQL run it starts from is part of the study"
        )
    if outer.agent.name == "sac":
        return run_sac_study(outer, overrides, run_dir)
    return run_ppo_study(outer, overrides, run_dir)


def run_ppo_study(outer: TrainConfig, overrides: list[str], run_dir: Path) -> StudyOutcome:
    """Train what is missing, then summarise every seed whose two runs finished; UserError when a unit failed."""
    from hierl.config.stages import cql_trading_run, ppo_run
    from hierl.orchestration.asset_run import check_trainable
    from hierl.orchestration.cql_run import check_cql_run
    from hierl.orchestration.execution import ExecutionConfig, Unit, run_units
    from hierl.orchestration.ppo_stage import (
        compose_config,
        execution_config,
        passed_on,
        resolve_seeds,
        with_output_dir,
        with_seed,
    )
    from hierl.reports.warm_start_study import ARMS, SCRATCH, WARM, read_arm_run, summarise_study

    asset = outer.asset.name
    extra = outer.multistage.stage_overrides
    common = passed_on(overrides)
    cql_dir = run_dir / "cql" / asset
    cql_cfg = with_output_dir(
        with_seed(
            cql_trading_run(compose_config([*common, "agent=cql", f"asset={asset}", *extra.get("cql", [])])), CQL_SEED
        ),
        cql_dir,
    )
    check_cql_run(cql_cfg)
    ppo_cfg = ppo_run(compose_config([*common, "agent=ppo", f"asset={asset}", *extra.get("ppo", [])]))
    seeds = resolve_seeds(outer)
    configs = {
        (arm, s): with_output_dir(with_seed(ppo_cfg, s), ppo_folder(run_dir, asset, arm, s))
        for s in seeds
        for arm in ARMS
    }
    for (arm, _), cfg in configs.items():
        if arm == SCRATCH:
            check_trainable(cfg)

    cql_outcome = run_units([Unit("cql", train_cql_unit, ("cql", cql_cfg, cql_dir))], ExecutionConfig())[0]
    if not cql_outcome.ok:
        raise UserError(f"CQL pretraining failed: {cql_outcome.error}")
    configs.update({(WARM, s): warm_started(configs[(WARM, s)], cql_dir) for s in seeds})
    units = [
        Unit(f"{arm}/seed_{seed}", train_ppo_unit, (f"{arm}/seed_{seed}", cfg, cfg_folder))
        for (arm, seed), cfg in sorted(configs.items(), key=lambda item: (item[0][1], ARMS.index(item[0][0])))
        for cfg_folder in [ppo_folder(run_dir, asset, arm, seed)]
    ]
    outcomes = run_units(units, execution_config(outer))
    failed = {o.name: o.error for o in outcomes if not o.ok}
    finished = [s for s in seeds if not any(f"{arm}/seed_{s}" in failed for arm in ARMS)]
    if not finished:
        raise UserError(f"no seed has both runs finished: {failed}")

    runs: dict[str, list[ArmRun]] = {
        arm: [read_arm_run(ppo_folder(run_dir, asset, arm, s), s) for s in finished] for arm in ARMS
    }
    summary = summarise_study(runs)
    study = StudyRuns(run_dir, asset, cql_dir, configs[(SCRATCH, finished[0])], cql_cfg, common, dict(extra))
    write_results(Path(outer.paths.results_dir), study, summary, runs, failed)
    if failed:
        raise UserError(f"{len(failed)} unit(s) failed ({', '.join(sorted(failed))}); the others are summarised")
    return StudyOutcome(run_dir, {f"{arm}/val/sharpe_mean": _mean([r.selected for r in runs[arm]]) for arm in ARMS})


@dataclasses.dataclass(frozen=True)
class StudyRuns:
    """What the written results describe: the study folder, the class, both stages' configs and the overrides."""

    run_dir: Path
    asset: str
    cql_dir: Path
    ppo_cfg: PPORunConfig
    cql_cfg: CQLRunConfig
    common: list[str]
    stage_overrides: dict[str, list[str]]


def write_results(
    results: Path,
    study: StudyRuns,
    summary: StudySummary,
    runs: dict[str, list[ArmRun]],
    failed: dict[str, str | None],
) -> None:
    """warm_start.json (every number and folder), warm_start.md (table and reading) and warm_start.png."""
    from hierl.reports.warm_start_study import INIT_FILE, SCRATCH, WARM
    from hierl.run.folder import RunFolder

    command = shlex.join(["python", "experiments/warm_start_study.py", *sys.argv[1:]])
    cql_val = RunFolder(study.cql_dir).read_metrics().get("val/sharpe")
    baselines = validation_baselines(runs[SCRATCH][0].run_dir)
    correlations = [json.loads((r.run_dir / INIT_FILE).read_text())["action_correlation"] for r in runs[WARM]]
    spent = budgets(study.cql_cfg, study.ppo_cfg)
    payload = {
        "asset_class": study.asset,
        "data_source": study.ppo_cfg.data.source,
        **shared_payload(command, spent, study.common, study.stage_overrides, "ppo", study.cql_dir, cql_val),
        "val_baseline_sharpe": baselines,
        "warm_start_action_correlation": dict(zip([r.seed for r in runs[WARM]], correlations, strict=True)),
        **outcome_payload(runs, failed, summary),
    }
    title = f"Warm start from CQL vs PPO from scratch ({study.asset}, {len(summary.seeds)} seeds)"
    cql, ppo = spent["cql"], spent["ppo"]
    setup = [
        f"Command: `{command}` (run folders under `{study.run_dir}`).",
        f"CQL (seed {cql['seed']}, once): {cql['offline_transitions']:,} offline transitions from the behaviour mix "
        f"{cql['behaviour_mix']}, {cql['gradient_steps']:,} gradient steps, batch {cql['batch_size']}, net "
        f"{cql['net_arch']}, selected on validation every {cql['eval_freq']:,} steps; its own val Sharpe "
        f"{_number(cql_val)}.",
        f"PPO, both arms: {ppo['total_timesteps']:,} timesteps, {ppo['n_envs']} envs x {ppo['n_steps']} steps per "
        f"rollout, net {ppo['net_arch']}, learning rate {ppo['learning_rate']}, validation every "
        f"{ppo['eval_freq']:,} steps (at rollout boundaries); the warm arm is behaviour-cloned onto the CQL policy "
        f"first (action correlation with it after cloning: {_number(_mean(correlations))} mean over seeds).",
        selection_caveat(baselines, "PPO"),
    ]
    if failed:
        setup.append(f"Failed units, left out: {', '.join(failed)}.")
    publish(results, STUDY_NAME, payload, summary, title, setup, baselines, PLOTTED_BASELINES, cql_val, "PPO")


def publish(
    results: Path,
    name: str,
    payload: dict[str, Any],
    summary: StudySummary,
    title: str,
    setup: list[str],
    baselines: dict[str, float],
    plotted: Sequence[str],
    cql_val: float | None,
    agent: str,
) -> None:
    """`<name>.json` (every number and folder), `<name>.md` (table and reading) and `<name>.png` in `results`,
    the same way for both studies; the CQL policy's own score and the baselines' on the same block are the
    references the reading and the plot set the arms against."""
    from hierl.reports.warm_start_study import finite_or_none, plot_study, study_document
    from hierl.tracking.files import write_atomic, write_json
    from hierl.tracking.logging import get_logger

    results.mkdir(parents=True, exist_ok=True)
    write_json(results / f"{name}.json", finite_or_none(payload))

    references = {"CQL policy": cql_val} if cql_val is not None else {}
    references.update({baseline: value for baseline, value in baselines.items() if baseline in plotted})
    figure = plot_study(summary, title, references, agent)
    write_atomic(results / f"{name}.png", lambda tmp: figure.savefig(tmp, format="png", dpi=110))

    context = {"the CQL policy": cql_val} if cql_val is not None else {}
    document = study_document(summary, title, setup, {**context, **baselines}, f"{name}.png", agent)
    write_atomic(results / f"{name}.md", lambda tmp: tmp.write_text(document))
    get_logger("warm_start_study").info("wrote %s", results / f"{name}.md")
    print(document)


# --- agent=sac: the meta-controller warm-started from CQL on PortfolioEnv. ---


def sac_folder(out: Path, arm: str, seed: int) -> Path:
    return out / "sac" / arm / f"seed_{seed}"


def with_sleeves(cfg: ConfigT, classes: list[str] | None) -> ConfigT:
    """`cfg` over the sleeves `classes` (null: every class of the data source), the same for every run of the
    study; a unit's config otherwise drops the command line's `multistage` keys."""
    return dataclasses.replace(cfg, multistage=dataclasses.replace(cfg.multistage, asset_classes=classes))


def sac_budgets(cql: CQLPortfolioRunConfig, sac: SACRunConfig) -> dict[str, dict[str, Any]]:
    """The budget keys of the CQL pretraining and of both SAC arms, as composed."""
    from hierl.agents.behaviour_policies import check_allocation_mix

    return {
        "cql": {
            "seed": cql.seed,
            "offline_transitions": cql.agent.total_timesteps,
            "gradient_steps": cql.agent.n_steps,
            "batch_size": cql.agent.batch_size,
            "net_arch": list(cql.agent.net_arch),
            "eval_freq": cql.agent.eval_freq,
            "behaviour_mix": check_allocation_mix(cql.agent.behaviour_mix, cql.agent.behaviour_ppo_run),
            "behaviour_noise": cql.agent.behaviour_noise,
        },
        "sac": {
            "total_timesteps": sac.agent.total_timesteps,
            "eval_freq": sac.agent.eval_freq,
            "n_envs": sac.agent.n_envs,
            "learning_starts": sac.agent.learning_starts,
            "batch_size": sac.agent.batch_size,
            "train_freq": sac.agent.train_freq,
            "gradient_steps": sac.agent.gradient_steps,
            "net_arch": list(sac.agent.net_arch),
            "learning_rate": sac.agent.learning_rate,
        },
        "env": {
            "window": sac.env.window,
            "cov_window": sac.env.cov_window,
            "episode_length": sac.env.episode_length,
            "min_sleeve_weight": sac.env.min_sleeve_weight,
            "max_sleeve_weight": sac.env.max_sleeve_weight,
            "max_leverage": sac.env.max_leverage,
            "turnover_budget": sac.env.turnover_budget,
        },
    }


def train_sac_unit(name: str, cfg: SACRunConfig, folder: Path) -> dict[str, float]:
    """One SAC arm of one seed in `folder`, or the metrics of its finished run of the same config."""
    from hierl.orchestration.hierarchy_run import train_meta_controller
    from hierl.orchestration.ppo_stage import reuse_or_run

    return reuse_or_run(name, folder, cfg, lambda: train_meta_controller(cfg, folder).metrics)


def run_sac_study(outer: TrainConfig, overrides: list[str], run_dir: Path) -> StudyOutcome:
    """The SAC meta-controller from scratch vs warm-started from CQL on PortfolioEnv (module docstring); train what
    is missing, then summarise every seed whose two runs finished; UserError when a unit failed."""
    from hierl.config.stages import cql_portfolio_run, sac_run
    from hierl.orchestration.cql_run import check_portfolio_cql_run
    from hierl.orchestration.execution import ExecutionConfig, Unit, run_units
    from hierl.orchestration.hierarchy_run import check_config
    from hierl.orchestration.ppo_stage import (
        PER_JOB_KEYS,
        compose_config,
        execution_config,
        passed_on,
        resolve_seeds,
        with_output_dir,
        with_seed,
    )
    from hierl.orchestration.signals import SIGNALS_FILE
    from hierl.reports.warm_start_study import ARMS, SCRATCH, WARM, read_arm_run, summarise_study

    extra = outer.multistage.stage_overrides
    classes = outer.multistage.asset_classes
    # Every run is a hierarchy run of the user's data and env settings; the study picks the agent of each.
    common = passed_on(overrides, PER_JOB_KEYS | HIERARCHY_GROUPS)
    hierarchy = [*common, "experiment=hierarchy", "progress=false"]
    cql_dir = run_dir / "cql" / "hierarchy"
    cql_cfg = cql_portfolio_run(compose_config([*hierarchy, "agent=cql", *extra.get("cql", [])]))
    cql_cfg = with_output_dir(with_seed(with_sleeves(cql_cfg, classes), CQL_SEED), cql_dir)
    check_portfolio_cql_run(cql_cfg)
    sac_cfg = with_sleeves(sac_run(compose_config([*hierarchy, *extra.get("sac", [])])), classes)
    # The sleeves are trained once, by the CQL run; every SAC run reads their signals.
    sac_cfg = dataclasses.replace(
        sac_cfg, agent=dataclasses.replace(sac_cfg.agent, signals_path=str(cql_dir / SIGNALS_FILE))
    )
    seeds = resolve_seeds(outer)
    configs = {
        (arm, s): with_output_dir(with_seed(sac_cfg, s), sac_folder(run_dir, arm, s)) for s in seeds for arm in ARMS
    }
    check_config(configs[(SCRATCH, seeds[0])])

    cql_outcome = run_units([Unit("cql", train_cql_unit, ("cql", cql_cfg, cql_dir))], ExecutionConfig())[0]
    if not cql_outcome.ok:
        raise UserError(f"CQL pretraining failed: {cql_outcome.error}")
    for s in seeds:
        warm = configs[(WARM, s)]
        configs[(WARM, s)] = dataclasses.replace(warm, agent=dataclasses.replace(warm.agent, init_from=str(cql_dir)))
    check_config(configs[(WARM, seeds[0])])  # the CQL run is one this meta-controller can start from
    units = [
        Unit(f"{arm}/seed_{seed}", train_sac_unit, (f"{arm}/seed_{seed}", cfg, sac_folder(run_dir, arm, seed)))
        for (arm, seed), cfg in sorted(configs.items(), key=lambda item: (item[0][1], ARMS.index(item[0][0])))
    ]
    outcomes = run_units(units, execution_config(outer))
    failed = {o.name: o.error for o in outcomes if not o.ok}
    finished = [s for s in seeds if not any(f"{arm}/seed_{s}" in failed for arm in ARMS)]
    if not finished:
        raise UserError(f"no seed has both runs finished: {failed}")

    runs: dict[str, list[ArmRun]] = {
        arm: [read_arm_run(sac_folder(run_dir, arm, s), s) for s in finished] for arm in ARMS
    }
    summary = summarise_study(runs)
    study = SACStudyRuns(run_dir, cql_dir, configs[(SCRATCH, finished[0])], cql_cfg, common, dict(extra))
    write_sac_results(Path(outer.paths.results_dir), study, summary, runs, failed)
    if failed:
        raise UserError(f"{len(failed)} unit(s) failed ({', '.join(sorted(failed))}); the others are summarised")
    return StudyOutcome(run_dir, {f"{arm}/val/sharpe_mean": _mean([r.selected for r in runs[arm]]) for arm in ARMS})


@dataclasses.dataclass(frozen=True)
class SACStudyRuns:
    """What the SAC study's results describe: its folder, both stages' configs and the overrides."""

    run_dir: Path
    cql_dir: Path
    sac_cfg: SACRunConfig
    cql_cfg: CQLPortfolioRunConfig
    common: list[str]
    stage_overrides: dict[str, list[str]]


def write_sac_results(
    results: Path,
    study: SACStudyRuns,
    summary: StudySummary,
    runs: dict[str, list[ArmRun]],
    failed: dict[str, str | None],
) -> None:
    """warm_start_sac.json, warm_start_sac.md and warm_start_sac.png (`publish`)."""
    from hierl.agents.cql import read_policy_file
    from hierl.reports.warm_start_study import SCRATCH, WARM
    from hierl.run.folder import RunFolder

    command = shlex.join(["python", "experiments/warm_start_study.py", *sys.argv[1:]])
    cql_val = RunFolder(study.cql_dir).read_metrics().get("val/sharpe")
    sleeves = list(read_policy_file(study.cql_dir)["asset_classes"])
    baselines = validation_baselines(runs[SCRATCH][0].run_dir)
    inits = {r.seed: RunFolder(r.run_dir).read_init() or {} for r in runs[WARM]}
    spent = sac_budgets(study.cql_cfg, study.sac_cfg)
    payload = {
        "agent": "sac",
        "asset_classes": sleeves,
        "data_source": study.sac_cfg.data.source,
        **shared_payload(command, spent, study.common, study.stage_overrides, "sac", study.cql_dir, cql_val),
        "sleeve_signals": study.sac_cfg.agent.signals_path,
        "val_baseline_sharpe": baselines,
        "warm_start": {
            seed: {key: init.get(key) for key in ("method", "max_action_gap", "same_sleeve_signals", "differences")}
            for seed, init in inits.items()
        },
        **outcome_payload(runs, failed, summary),
    }
    cql, sac = spent["cql"], spent["sac"]
    methods = sorted({str(init.get("method")) for init in inits.values()})
    gaps = [float(init["max_action_gap"]) for init in inits.values() if "max_action_gap" in init]
    largest_gap = f"{max(gaps):.1e}" if gaps else "n/a"
    title = (
        f"Warm start from CQL vs SAC meta-controller from scratch ({', '.join(sleeves)}, {len(summary.seeds)} seeds)"
    )
    setup = [
        f"Command: `{command}` (run folders under `{study.run_dir}`).",
        f"Sleeves: one PPO per class ({', '.join(sleeves)}), trained once inside the CQL run (seed {cql['seed']}, "
        "the sleeve budgets of `experiment=hierarchy`); every SAC run reads their signals "
        f"(`{study.sac_cfg.agent.signals_path}`), so the arms differ by the warm start alone.",
        f"CQL on PortfolioEnv (seed {cql['seed']}, once): {cql['offline_transitions']:,} offline transitions from the "
        f"allocation mix {cql['behaviour_mix']} (noise {cql['behaviour_noise']}), {cql['gradient_steps']:,} gradient "
        f"steps, batch {cql['batch_size']}, net {cql['net_arch']}, selected on validation every "
        f"{cql['eval_freq']:,} steps; its own val Sharpe {_number(cql_val)}.",
        f"SAC, both arms: {sac['total_timesteps']:,} timesteps, {sac['n_envs']} env(s), {sac['learning_starts']:,} "
        f"uniform warm-up steps before the first update, {sac['gradient_steps']} gradient steps every "
        f"{sac['train_freq']} steps, batch {sac['batch_size']}, net {sac['net_arch']}, learning rate "
        f"{sac['learning_rate']}, validation every {sac['eval_freq']:,} steps; the warm arm starts from the CQL "
        f"actor, critics and temperature ({', '.join(methods)}; largest action gap to the CQL policy on its dataset "
        f"{largest_gap}).",
        selection_caveat(baselines, "SAC"),
    ]
    if failed:
        setup.append(f"Failed units, left out: {', '.join(failed)}.")
    publish(results, SAC_STUDY_NAME, payload, summary, title, setup, baselines, SAC_PLOTTED_BASELINES, cql_val, "SAC")


def shared_payload(
    command: str,
    spent: dict[str, Any],
    common: list[str],
    stage_overrides: dict[str, list[str]],
    stage: str,
    cql_dir: Path,
    cql_val: float | None,
) -> dict[str, Any]:
    """The keys both studies' JSON open with: how they were run, and the CQL run both warm starts come from."""
    return {
        "command": command,
        "budgets": spent,
        "overrides": {
            "common": common,
            stage: stage_overrides.get(stage, []),
            "cql": stage_overrides.get("cql", []),
        },
        "cql_run": {"folder": str(cql_dir), "val/sharpe": cql_val},
    }


def outcome_payload(
    runs: dict[str, list[ArmRun]], failed: dict[str, str | None], summary: StudySummary
) -> dict[str, Any]:
    """The keys both studies' JSON close with: every run folder, the failures and the summary."""
    return {
        "runs": {arm: {r.seed: str(r.run_dir) for r in arm_runs} for arm, arm_runs in runs.items()},
        "failed_units": failed,
        "reads": "validation_history.json and val/sharpe of metrics.json only; no test metric is read",
        "summary": summary.to_dict(),
    }


def selection_caveat(baselines: dict[str, float], agent: str) -> str:
    """The baselines' scores on the block, and why the `selected` row is optimistic for both arms."""
    return (
        "Validation Sharpe of the baselines on the same block: "
        + ", ".join(f"{name} {value:.3f}" for name, value in baselines.items())
        + f". The CQL weights were kept at their best validation step and each {agent} run's selected model is its "
        "best validation evaluation, so the `selected` row and the warm arm's starting point are chosen on the "
        "block they are scored on (optimistic for both arms, and for the warm arm before fine-tuning starts)."
    )


def validation_baselines(run_dir: Path) -> dict[str, float]:
    """`val/baseline/<name>/sharpe` of a run folder (the same for every run: same data, same block)."""
    from hierl.run.folder import RunFolder

    metrics = RunFolder(run_dir).read_metrics()
    prefix, suffix = "val/baseline/", "/sharpe"
    return {k[len(prefix) : -len(suffix)]: v for k, v in metrics.items() if k.startswith(prefix) and k.endswith(suffix)}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _hydra_list(items: Sequence[str]) -> str:
    """A list of override strings as one Hydra list value (each item quoted: they hold `=`)."""
    return "[" + ",".join(f"'{item}'" for item in items) + "]"


def legacy_overrides(argv: Sequence[str]) -> list[str]:
    """The earlier `--out/--results/--seeds/--common/--ppo/--cql/--workers` command line as Hydra overrides."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the study's folder (hydra.run.dir)")
    parser.add_argument("--results", type=Path, default=Path("docs/results"), help="paths.results_dir")
    parser.add_argument("--asset", default="equity", help="the asset class (conf/asset/<class>.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="PPO seeds, one pair each")
    parser.add_argument("--common", nargs="*", default=[], help="Hydra overrides for every run (e.g. debug=smoke)")
    parser.add_argument("--ppo", nargs="*", default=[], help="Hydra overrides for both PPO arms (the budget)")
    parser.add_argument("--cql", nargs="*", default=[], help="Hydra overrides for the CQL pretraining (its budget)")
    parser.add_argument("--workers", type=int, default=1, help="> 1 runs the PPO or SAC units as Ray tasks")
    parser.add_argument("--stage", choices=STUDY_AGENTS, default="ppo", help="the agent warm-started: ppo or sac")
    parser.add_argument("--sac", nargs="*", default=[], help="Hydra overrides for both SAC arms (--stage sac)")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds {args.seeds} repeats a seed")
    overrides = [
        *args.common,
        f"asset={args.asset}",
        f"hydra.run.dir={args.out.resolve()}",
        f"paths.results_dir={args.results.resolve()}",
        f"multistage.seeds=[{','.join(map(str, args.seeds))}]",
        f"multistage.stage_overrides.ppo={_hydra_list(args.ppo)}",
        f"multistage.stage_overrides.cql={_hydra_list(args.cql)}",
    ]
    if args.stage == "sac":
        overrides += ["agent=sac", f"multistage.stage_overrides.sac={_hydra_list(args.sac)}"]
    if args.workers > 1:
        overrides += ["multistage.distributed=true", f"multistage.num_workers={args.workers}"]
    return overrides


main = stage_entrypoint(run_study, title="warm start study")

if __name__ == "__main__":
    if any(arg.startswith("--") and arg != "--help" for arg in sys.argv[1:]):
        sys.argv[1:] = legacy_overrides(sys.argv[1:])
    add_default_overrides(experiment="warm_start")
    main()
