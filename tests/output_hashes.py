"""The output record: hashes of every output file of fixed-seed smoke runs of each hierl entrypoint.

A restructuring must not change a number. `tests/test_output_hashes.py` reruns these runs at one torch thread and
compares every file's hash with `tests/data/output_hashes.json`, recorded before the restructuring.

    python tests/output_hashes.py --diff     # rerun, print the files whose hash differs from the record
    python tests/output_hashes.py --write    # rerun and replace the record (only when numbers are meant to change)

What is hashed is the content a user reads, so a hash changes exactly when a number, a name or a plot does:
- JSON: the parsed value, minus wall-clock and host keys (`WALL_CLOCK_KEYS`), with the run root replaced by `<root>`;
- Parquet: the table's schema and rows (a Parquet file's bytes also name the writer's version);
- zip and npz archives: each member, by name (an archive's bytes also hold the time it was written); of SB3's
  `data` member only the plain JSON values, without `start_time` (the wall clock) and without the pickled
  entries (their bytes hold memory addresses and episode times);
- Optuna's SQLite study: every table's rows but the time columns (start, completion, heartbeat), root replaced;
- YAML and text files: their text with the run root replaced by `<root>`;
- SB3's `progress.csv`: every column but `time/*`;
- anything else (PNG plots, text): its bytes.
Left out, because no two runs share them: `.hydra/` (the command line and paths), `run_state.json` and logs (times,
hosts), W&B and TensorBoard folders (event times), and `checkpoints/` (their state format is an internal detail;
exact resume from them is tested by the resume tests).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parent.parent
RECORD = REPO / "tests" / "data" / "output_hashes.json"
# Wall-clock times, and `node` (the host a pipeline unit ran on, pipeline_summary.json): no two machines share them.
WALL_CLOCK_KEYS = frozenset({"train/seconds", "seconds", "started", "finished", "elapsed_seconds", "node"})
SKIPPED_DIRS = frozenset({".hydra", "checkpoints", "wandb", "tensorboard", "__pycache__"})
SKIPPED_FILES = frozenset({"run_state.json", "log.jsonl"})
FIXED = ("seed=0", "runtime.torch_threads=1", "debug=smoke")


def train(*overrides: str, multirun: bool = False) -> list[str]:
    return [sys.executable, "-m", "hierl.train", *(["-m"] if multirun else []), *FIXED, *overrides]


def script(name: str, *overrides: str) -> list[str]:
    return [sys.executable, str(REPO / "experiments" / f"{name}.py"), *FIXED, *overrides]


def commands(root: Path) -> dict[str, list[str]]:
    """Every entrypoint once, at fixed seeds and one torch thread; each writes the folder of its name."""
    return {
        "train": train(f"hydra.run.dir={root / 'train'}"),
        "evaluate": [sys.executable, "-m", "hierl.evaluate", f"run_dir={root / 'train'}"],
        "hierarchy": train("experiment=hierarchy", f"hydra.run.dir={root / 'hierarchy'}"),
        "cql": train("agent=cql", f"hydra.run.dir={root / 'cql'}"),
        "sweep": train(
            "hparams_search=ppo_optuna", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={root / 'sweep'}", multirun=True
        ),
        "pipeline": script(
            "train_all_agents", "data=synthetic", "multistage.seeds=[0]", f"hydra.run.dir={root / 'pipeline'}"
        ),
    }


# The runs in two groups that need nothing of each other (the replay needs the train run), so two pytest workers can
# run them side by side: `tests/test_output_hashes.py` and `tests/test_output_hashes_multi.py`, one group each.
GROUPS: dict[str, tuple[str, ...]] = {
    "single": ("train", "evaluate", "cql"),
    "multi": ("hierarchy", "sweep", "pipeline"),
}


def output_folder(root: Path, name: str) -> Path:
    """The folder a run wrote; a replay writes `<run>_replay_<time>` beside the run it replays."""
    if name == "evaluate":
        (replay,) = root.glob("train_replay_*")
        return replay
    return root / name


def run_all(root: Path, names: tuple[str, ...] | None = None) -> None:
    """Run every command (or those of `names`) in order (the replay needs the train run); a failure stops with its
    stderr."""
    # PYTHONPATH: the scripts of experiments/ import this checkout's hierl, not whichever one is installed.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    env["PYTHONPATH"] = str(REPO)
    env.setdefault("HIERL_CACHE", str(root / "cache"))
    for name, command in commands(root).items():
        if names is not None and name not in names:
            continue
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed ({' '.join(command)}):\n{result.stderr[-3000:]}")


def _without_wall_clock(value: Any, root: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_wall_clock(v, root) for k, v in value.items() if k not in WALL_CLOCK_KEYS}
    if isinstance(value, list):
        return [_without_wall_clock(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<root>")
    return value


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _progress_csv(data: bytes) -> bytes:
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    kept = [{k: v for k, v in row.items() if not k.startswith("time/")} for row in rows]
    return json.dumps(kept, sort_keys=True).encode()


def _sb3_data(data: bytes) -> bytes:
    """SB3's `data` member without the wall clock and the pickled entries."""
    values = json.loads(data)
    plain = {
        key: value
        for key, value in values.items()
        if key != "start_time" and not (isinstance(value, dict) and ":serialized:" in value)
    }
    return json.dumps(plain, sort_keys=True).encode()


def _member_hash(name: str, data: bytes) -> str:
    return _sha(_sb3_data(data) if name == "data" else data)


# Columns of Optuna's tables that hold a wall-clock time (`datetime_start`, `datetime_complete`, a heartbeat).
TIME_COLUMNS = ("datetime", "heartbeat")


def _sqlite_rows(path: Path, root: str) -> bytes:
    """Every table's rows, without columns that hold times, with the run root replaced (trials record their
    run folder)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        dump = {}
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if not any(word in c for word in TIME_COLUMNS)]
            if kept:
                query = f"SELECT {', '.join(kept)} FROM {table} ORDER BY {', '.join(kept)}"
                dump[table] = [list(row) for row in db.execute(query)]
    return json.dumps(dump, default=str).replace(root, "<root>").encode()


def _content_hash(path: Path, root: str) -> str:
    data = path.read_bytes()
    if path.suffix == ".json":
        return _sha(json.dumps(_without_wall_clock(json.loads(data), root), sort_keys=True).encode())
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        return _sha(f"{frame.schema}\n{frame.write_csv()}".encode())
    if path.suffix in {".zip", ".npz"}:
        with zipfile.ZipFile(path) as archive:
            members = {name: _member_hash(name, archive.read(name)) for name in sorted(archive.namelist())}
        return _sha(json.dumps(members).encode())
    if path.name.startswith("progress") and path.suffix == ".csv":
        return _sha(_progress_csv(data))
    if path.suffix == ".db":
        return _sha(_sqlite_rows(path, root))
    if path.suffix in {".yaml", ".txt", ".md", ".csv"}:
        return _sha(data.decode().replace(root, "<root>").encode())
    return _sha(data)


def _output_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not SKIPPED_DIRS & set(relative.parts) and path.name not in SKIPPED_FILES:
            yield path


def folder_hashes(folder: Path, root: Path) -> dict[str, str]:
    """`relative path -> content hash` for every output file of one run folder."""
    return {str(path.relative_to(folder)): _content_hash(path, str(root)) for path in _output_files(folder)}


def current_hashes(root: Path, run: bool = True, names: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """Run everything (or the runs of `names`) under `root` (unless `run` is False: the runs are there) and hash
    each run's folder."""
    if run:
        run_all(root, names)
    chosen = [name for name in commands(root) if names is None or name in names]
    return {name: folder_hashes(output_folder(root, name), root) for name in chosen}


def assert_matches_record(hashes: dict[str, dict[str, str]], run: str) -> None:
    """Every file of `run` hashes as recorded: no file new, gone or changed."""
    recorded = json.loads(RECORD.read_text())
    assert recorded[run], f"the record holds no file of the {run} run"
    changed = differences({run: recorded[run]}, {run: hashes[run]})
    assert changed == [], "\n".join(changed)


def differences(recorded: dict[str, dict[str, str]], now: dict[str, dict[str, str]]) -> list[str]:
    """One line per file that is new, gone or changed, by run."""
    lines = []
    for run in sorted(recorded.keys() | now.keys()):
        before, after = recorded.get(run, {}), now.get(run, {})
        for name in sorted(before.keys() | after.keys()):
            if name not in after:
                lines.append(f"{run}: {name} is no longer written")
            elif name not in before:
                lines.append(f"{run}: {name} is new")
            elif before[name] != after[name]:
                lines.append(f"{run}: {name} changed")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="replace the record with this checkout's hashes")
    parser.add_argument("--diff", action="store_true", help="print the files whose hash differs from the record")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temp folder, removed)")
    parser.add_argument("--hash-only", action="store_true", help="hash the runs already in --keep, run nothing")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="hierl-output-hashes-"))
    try:
        now = current_hashes(root.resolve(), run=not args.hash_only)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if args.write:
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD} ({sum(len(v) for v in now.values())} files)")
    else:
        lines = differences(json.loads(RECORD.read_text()), now)
        print("\n".join(lines) if lines else "every output file matches the record")
        sys.exit(1 if lines else 0)


if __name__ == "__main__":
    main()
