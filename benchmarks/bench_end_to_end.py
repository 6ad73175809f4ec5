"""Whole hierl commands against their floor, on a quiet machine and with one core kept busy.

    PYTHONPATH=. python benchmarks/bench_end_to_end.py            # about 15 minutes on 2 cores
    PYTHONPATH=. python benchmarks/bench_end_to_end.py --quick    # a 20,480-step default run instead of 100,000

Scenarios, each run as a user runs it (a fresh process, progress off):
- `default`: `python -m hierl.train agent=ppo asset=equity` (the README's first command);
- `hierarchy`: `python experiments/train_all_agents.py multistage.stages=[ppo,sac] debug=smoke` (three PPO sleeves,
  then SAC);
- `sweep`: a 4-trial `hparams_search=ppo_optuna debug=smoke` sweep, two trials at a time (joblib launcher).
The floor of a scenario is `floor_run.py` over the scenario's own run folders: SB3 with the same algorithm,
hyperparameters and steps on a no-op env with the same spaces, in as many processes as the scenario ran at once,
at one and at two torch threads; the faster is the floor ("at its best thread count").

Reported per scenario and condition: wall time, trained steps per wall second, the floor's, and
`end-to-end ratio = floor wall / run wall` (1.0: hierl adds nothing to what SB3 itself needs; the run's data
loading, validation, test backtests, plots and files all count against it). `training ratio` compares the
training phase alone (`train/seconds`, validation included) with the floor's `learn` calls. Conditions: `quiet`
(nothing else running) and `busy` (another process spins on one core for the whole measurement). Feature caches
are warmed before timing. Writes `benchmarks/results/end_to_end.json` and `end_to_end.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import markdown_table, verdict, write_results

REPO = Path(__file__).resolve().parent.parent
FLOOR = Path(__file__).resolve().parent / "floor_run.py"
TARGETS = {"quiet": 0.8, "busy": 0.6}
THREAD_COUNTS = (1, 2)


@dataclass(frozen=True)
class Scenario:
    name: str
    command: list[str]
    parallel: int  # how many of its units run at once (the floor runs as many processes)

    def run_folders(self, out: Path) -> list[Path]:
        """The folders that trained, in the order they ran (metrics.json with train/timesteps)."""
        folders = [p.parent for p in sorted(out.rglob("metrics.json"))]
        return [f for f in folders if "train/timesteps" in json.loads((f / "metrics.json").read_text())]


def scenarios(out: Path, quick: bool) -> list[Scenario]:
    python = sys.executable
    budget = ["agent.total_timesteps=20480"] if quick else []
    run_dir = [f"hydra.run.dir={out / 'hierarchy'}"]
    sweep = [
        "hparams_search=ppo_optuna",
        "debug=smoke",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    ]
    return [
        Scenario(
            "default",
            [python, "-m", "hierl.train", "agent=ppo", "asset=equity", *budget, f"hydra.run.dir={out / 'default'}"],
            1,
        ),
        Scenario(
            "hierarchy",
            [
                python,
                str(REPO / "experiments" / "train_all_agents.py"),
                "multistage.stages=[ppo,sac]",
                "debug=smoke",
                *run_dir,
            ],
            1,
        ),
        Scenario("sweep", [python, "-m", "hierl.train", "-m", *sweep, f"hydra.sweep.dir={out / 'sweep'}"], 2),
    ]


def run(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of `command`; fails loudly with its stderr."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def floor(folders: list[Path], parallel: int, env: dict[str, str]) -> dict[str, Any]:
    """The fastest floor over THREAD_COUNTS: `parallel` processes, each training its share of the folders."""
    best: dict[str, Any] | None = None
    for threads in THREAD_COUNTS:
        shares = [folders[i::parallel] for i in range(parallel)]
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [sys.executable, str(FLOOR), "--threads", str(threads), *map(str, share)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=REPO,
            )
            for share in shares
        ]
        outputs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in processes]
        wall = time.perf_counter() - started
        runs = [r for output in outputs for r in output["runs"]]
        result = {
            "threads": threads,
            "wall_s": wall,
            "steps": sum(r["steps"] for r in runs),
            "learn_s": sum(r["learn_s"] for r in runs) / parallel,
        }
        if best is None or result["wall_s"] < best["wall_s"]:
            best = result
    assert best is not None
    return best


@contextmanager
def condition(name: str) -> Iterator[None]:
    """`busy`: another process keeps one core at 100% for the whole block."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if name == "busy" else None
    try:
        yield
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def measure(scenario: Scenario, out: Path, env: dict[str, str]) -> dict[str, Any]:
    wall = run(scenario.command, env)
    folders = scenario.run_folders(out / scenario.name)
    metrics = [json.loads((f / "metrics.json").read_text()) for f in folders]
    steps = sum(int(m["train/timesteps"]) for m in metrics)
    train_s = sum(float(m["train/seconds"]) for m in metrics) / scenario.parallel
    base = floor(folders, scenario.parallel, env)
    return {
        "scenario": scenario.name,
        "wall_s": wall,
        "steps": steps,
        "steps_per_s": steps / wall,
        "train_s": train_s,
        "floor": base,
        "floor_steps_per_s": base["steps"] / base["wall_s"],
        "end_to_end_ratio": base["wall_s"] / wall,
        "training_ratio": base["learn_s"] / train_s,
        "torch_threads": sorted({m.get("train/torch_threads") for m in metrics}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 20,480-step default run")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hierl-bench-") as tmp:
        root = Path(tmp)
        env = os.environ | {"HIERL_CACHE": str(root / "cache"), "WANDB_MODE": "offline", "PYTHONPATH": str(REPO)}
        env.pop("OMP_NUM_THREADS", None)  # each process starts as a user's would; the thread policy decides
        # Build every feature cache the timed runs read: the default run's data (tiny budget) and the smoke data.
        default, hierarchy, _ = scenarios(root / "warm-up", quick=True)
        tiny = ["agent.total_timesteps=1024", "agent.n_steps=256", "agent.eval_freq=1024", "agent.checkpoint_freq=1024"]
        run([*default.command, *tiny], env)
        run(hierarchy.command, env)
        for name in TARGETS:
            with condition(name):
                for scenario in scenarios(root / name, args.quick):
                    row = measure(scenario, root / name, env)
                    row |= {"condition": name, "target": TARGETS[name]}
                    row["holds"] = row["end_to_end_ratio"] >= TARGETS[name]
                    print(json.dumps(row))
                    rows.append(row)
    table = [
        [
            r["scenario"],
            r["condition"],
            f"{r['wall_s']:.1f}",
            f"{r['steps']:,}",
            f"{r['steps_per_s']:,.0f}",
            f"{r['floor_steps_per_s']:,.0f} ({r['floor']['threads']} thr)",
            f"{r['end_to_end_ratio']:.2f}",
            f"{r['training_ratio']:.2f}",
            f">= {r['target']:.1f}",
            verdict(r["holds"]),
        ]
        for r in rows
    ]
    header = ["scenario", "machine", "wall s", "steps", "steps/s", "floor steps/s", "end-to-end", "training"]
    markdown = "\n".join(
        [
            "### End to end: whole commands against SB3 on a no-op env",
            "",
            markdown_table([*header, "target", "verdict"], table),
        ]
    )
    print(markdown)
    config = {"quick": args.quick, "thread_counts": list(THREAD_COUNTS), "targets": TARGETS}
    for path in write_results("end_to_end", {"benchmark": "end_to_end", "config": config, "rows": rows}, markdown):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
