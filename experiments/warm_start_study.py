"""PPO from scratch vs PPO warm-started from CQL, at equal fine-tuning budgets, over several seeds.

    python experiments/warm_start_study.py --out /tmp/warm_start_study --results docs/results \\
        --ppo agent.total_timesteps=20480 agent.eval_freq=4096 \\
        --cql agent.total_timesteps=20000 agent.n_steps=3000 agent.eval_freq=500

1. CQL is pretrained once for the asset class (seed 0) in `<out>/cql/<class>/`
   (`agent=cql asset=<class> seed=0 <--common> <--cql>`).
2. Per seed, two PPO runs identical but for the warm start: `<out>/ppo/<class>/scratch/seed_<s>/` and
   `<out>/ppo/<class>/warm/seed_<s>/` (`agent=ppo asset=<class> seed=<s> <--common> <--ppo>`, plus
   `agent.init_from=<out>/cql/<class>` for the warm one).
3. Their validation histories are summarised (`hierl.evaluation.warm_start_study`) into `warm_start.md`,
   `warm_start.json` and `warm_start.png` in `--results`. The test block is never read.

Every run is a unit folder of `hierl.orchestration.ppo_stage` (`unit_config.json`, `run_state.json`): a folder
finished with the same config is reused, so rerunning the same command finishes what is missing and redoes
nothing; a finished folder of another config is refused. `--workers N` (> 1) runs the PPO units as Ray tasks.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hierl.config.agent import PPOConfig
from hierl.config.cql import CQLConfig
from hierl.config.loading import load_config
from hierl.config.run import TrainConfig
from hierl.evaluation.warm_start_study import (
    ARMS,
    INIT_FILE,
    SCRATCH,
    WARM,
    ArmRun,
    StudySummary,
    finite_or_none,
    plot_study,
    read_arm_run,
    study_document,
    summarise_study,
)
from hierl.orchestration.asset_run import check_trainable, train_asset_agent
from hierl.orchestration.cql_run import check_cql_run, pretrain_cql
from hierl.orchestration.execution import ExecutionConfig, Unit, run_units
from hierl.orchestration.policy_evaluation import read_metrics
from hierl.orchestration.ppo_stage import reuse_or_run
from hierl.tracking.files import write_atomic, write_json
from hierl.tracking.logging import get_logger

log = get_logger("warm_start_study")

STUDY_NAME = "warm_start"
CQL_SEED = 0
# Applied before the user's overrides: no progress bars in a study's log.
DEFAULT_COMMON = ("progress=false",)
# Baselines drawn on the plot (all of them are in the Markdown and the JSON).
PLOTTED_BASELINES = ("buy_and_hold", "equal_weight")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the study's folder (every run folder goes below)")
    parser.add_argument("--results", type=Path, default=Path("docs/results"), help="where warm_start.md/json/png go")
    parser.add_argument("--asset", default="equity", help="the asset class (conf/asset/<class>.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="PPO seeds, one pair each")
    parser.add_argument("--common", nargs="*", default=[], help="Hydra overrides for every run (e.g. debug=smoke)")
    parser.add_argument("--ppo", nargs="*", default=[], help="Hydra overrides for both PPO arms (the budget)")
    parser.add_argument("--cql", nargs="*", default=[], help="Hydra overrides for the CQL pretraining (its budget)")
    parser.add_argument("--workers", type=int, default=1, help="> 1 runs the PPO units as Ray tasks")
    args = parser.parse_args(argv)
    args.argv = list(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds {args.seeds} repeats a seed")
    return args


def train_unit(name: str, cfg: TrainConfig, run_dir: Path) -> dict[str, float]:
    """Train one CQL or PPO run in `run_dir`, or reuse it when it finished earlier with the same config.

    `pretrain_cql` restores torch's thread count when it ends, so a study that pretrains CQL here trains the same
    PPO runs as one that reuses a finished CQL folder (the warm start's cloning depends on the thread count).
    """
    if isinstance(cfg.agent, CQLConfig):
        return reuse_or_run(name, run_dir, cfg, lambda: pretrain_cql(cfg, run_dir).metrics)
    return reuse_or_run(name, run_dir, cfg, lambda: train_asset_agent(cfg, run_dir).metrics)


def ppo_folder(out: Path, asset: str, arm: str, seed: int) -> Path:
    return out / "ppo" / asset / arm / f"seed_{seed}"


def ppo_overrides(args: argparse.Namespace, seed: int, cql_dir: Path | None) -> list[str]:
    """The same overrides for both arms of a seed; the warm arm adds only `agent.init_from`."""
    overrides = ["agent=ppo", f"asset={args.asset}", f"seed={seed}", *DEFAULT_COMMON, *args.common, *args.ppo]
    return [*overrides, f"agent.init_from={cql_dir}"] if cql_dir is not None else overrides


def budgets(cql: TrainConfig, ppo: TrainConfig) -> dict[str, dict[str, Any]]:
    """The budget keys of both stages, as composed (so defaults the command line left alone are recorded too)."""
    assert isinstance(cql.agent, CQLConfig) and isinstance(ppo.agent, PPOConfig)
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


def run_study(args: argparse.Namespace) -> int:
    """Train what is missing, then summarise every seed whose two runs finished; 1 when some unit failed."""
    out = args.out.resolve()
    cql_dir = out / "cql" / args.asset
    cql_overrides = ["agent=cql", f"asset={args.asset}", f"seed={CQL_SEED}", *DEFAULT_COMMON, *args.common, *args.cql]
    cql_cfg = load_config(cql_overrides, str(cql_dir))
    check_cql_run(cql_cfg)
    scratch = {
        s: load_config(ppo_overrides(args, s, None), str(ppo_folder(out, args.asset, SCRATCH, s))) for s in args.seeds
    }
    for cfg in scratch.values():
        check_trainable(cfg)

    cql_outcome = run_units([Unit("cql", train_unit, ("cql", cql_cfg, cql_dir))], ExecutionConfig())[0]
    if not cql_outcome.ok:
        log.error("CQL pretraining failed: %s", cql_outcome.error)
        return 1
    warm = {
        s: load_config(ppo_overrides(args, s, cql_dir), str(ppo_folder(out, args.asset, WARM, s))) for s in args.seeds
    }
    units = [
        Unit(f"{arm}/seed_{seed}", train_unit, (f"{arm}/seed_{seed}", cfg, ppo_folder(out, args.asset, arm, seed)))
        for seed in args.seeds
        for arm, cfg in ((SCRATCH, scratch[seed]), (WARM, warm[seed]))
    ]
    outcomes = run_units(units, ExecutionConfig(distributed=args.workers > 1, num_workers=max(1, args.workers)))
    failed = {o.name: o.error for o in outcomes if not o.ok}
    seeds = [s for s in args.seeds if not any(f"{arm}/seed_{s}" in failed for arm in ARMS)]
    if not seeds:
        log.error("no seed has both runs finished: %s", failed)
        return 1

    runs: dict[str, list[ArmRun]] = {
        arm: [read_arm_run(ppo_folder(out, args.asset, arm, s), s) for s in seeds] for arm in ARMS
    }
    summary = summarise_study(runs)
    write_results(args, out, cql_dir, scratch[seeds[0]], cql_cfg, summary, runs, failed)
    return 1 if failed else 0


def write_results(
    args: argparse.Namespace,
    out: Path,
    cql_dir: Path,
    ppo_cfg: TrainConfig,
    cql_cfg: TrainConfig,
    summary: StudySummary,
    runs: dict[str, list[ArmRun]],
    failed: dict[str, str | None],
) -> None:
    """warm_start.json (every number and folder), warm_start.md (table and reading) and warm_start.png."""
    command = shlex.join(["python", "experiments/warm_start_study.py", *args.argv])
    cql_val = read_metrics(cql_dir).get("val/sharpe")
    baselines = validation_baselines(runs[SCRATCH][0].run_dir)
    correlations = [json.loads((r.run_dir / INIT_FILE).read_text())["action_correlation"] for r in runs[WARM]]
    spent = budgets(cql_cfg, ppo_cfg)
    payload = {
        "asset_class": args.asset,
        "data_source": ppo_cfg.data.source,
        "command": command,
        "budgets": spent,
        "overrides": {"common": [*DEFAULT_COMMON, *args.common], "ppo": args.ppo, "cql": args.cql},
        "cql_run": {"folder": str(cql_dir), "val/sharpe": cql_val},
        "val_baseline_sharpe": baselines,
        "warm_start_action_correlation": dict(zip([r.seed for r in runs[WARM]], correlations, strict=True)),
        "runs": {arm: {r.seed: str(r.run_dir) for r in arm_runs} for arm, arm_runs in runs.items()},
        "failed_units": failed,
        "reads": "validation_history.json and val/sharpe of metrics.json only; no test metric is read",
        "summary": summary.to_dict(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.results / f"{STUDY_NAME}.json", finite_or_none(payload))

    title = f"Warm start from CQL vs PPO from scratch ({args.asset}, {len(summary.seeds)} seeds)"
    references = {"CQL policy": cql_val} if cql_val is not None else {}
    references.update({name: value for name, value in baselines.items() if name in PLOTTED_BASELINES})
    figure = plot_study(summary, title, references)
    write_atomic(args.results / f"{STUDY_NAME}.png", lambda tmp: figure.savefig(tmp, format="png", dpi=110))

    cql, ppo = spent["cql"], spent["ppo"]
    setup = [
        f"Command: `{command}` (run folders under `{out}`).",
        f"CQL (seed {cql['seed']}, once): {cql['offline_transitions']:,} offline transitions from the behaviour mix "
        f"{cql['behaviour_mix']}, {cql['gradient_steps']:,} gradient steps, batch {cql['batch_size']}, net "
        f"{cql['net_arch']}, selected on validation every {cql['eval_freq']:,} steps; its own val Sharpe "
        f"{_number(cql_val)}.",
        f"PPO, both arms: {ppo['total_timesteps']:,} timesteps, {ppo['n_envs']} envs x {ppo['n_steps']} steps per "
        f"rollout, net {ppo['net_arch']}, learning rate {ppo['learning_rate']}, validation every "
        f"{ppo['eval_freq']:,} steps (at rollout boundaries); the warm arm is behaviour-cloned onto the CQL policy "
        f"first (action correlation with it after cloning: {_number(_mean(correlations))} mean over seeds).",
        "Validation Sharpe of the baselines on the same block: "
        + ", ".join(f"{name} {value:.3f}" for name, value in baselines.items())
        + ". The CQL weights were kept at their best validation step and each PPO run's selected model is its best "
        "validation evaluation, so the `selected` row and the warm arm's starting point are chosen on the block "
        "they are scored on (optimistic for both arms, and for the warm arm before fine-tuning starts).",
    ]
    if failed:
        setup.append(f"Failed units, left out: {', '.join(failed)}.")
    context = {"the CQL policy": cql_val} if cql_val is not None else {}
    document = study_document(summary, title, setup, {**context, **baselines}, f"{STUDY_NAME}.png")
    write_atomic(args.results / f"{STUDY_NAME}.md", lambda tmp: tmp.write_text(document))
    log.info("wrote %s", args.results / f"{STUDY_NAME}.md")
    print(document)


def validation_baselines(run_dir: Path) -> dict[str, float]:
    """`val/baseline/<name>/sharpe` of a run folder (the same for every run: same data, same block)."""
    metrics = read_metrics(run_dir)
    prefix, suffix = "val/baseline/", "/sharpe"
    return {k[len(prefix) : -len(suffix)]: v for k, v in metrics.items() if k.startswith(prefix) and k.endswith(suffix)}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    return run_study(parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
