"""How far two sets of the output record's runs differ, number by number: the proof for a change that is meant to
move numbers by rounding only.

    python tests/output_hashes.py --keep OLD      # in the old checkout (PYTHONPATH=that checkout)
    python tests/output_hashes.py --keep NEW      # in this one
    python tests/output_drift.py OLD NEW          # every file whose content differs, with its largest difference

A file whose hash matches is equal. JSON and Parquet files that differ are compared value by value: the same keys,
columns and strings, and numbers that differ by at most `--rtol` relative to the larger one (or `--atol`). Other
files (models, plots) that differ are listed as such. The exit code is 1 when some file is not within tolerance.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from output_hashes import _content_hash, _output_files, _without_wall_clock, commands, output_folder


@dataclass
class Drift:
    """The largest differences between two values holding numbers, and the first difference that is not one."""

    rtol: float
    atol: float
    max_abs: float = 0.0
    max_rel: float = 0.0
    outside: int = 0
    mismatch: str = ""

    def numbers(self, a: float, b: float) -> None:
        if a == b or (math.isnan(a) and math.isnan(b)):
            return
        gap = abs(a - b)
        self.max_abs = max(self.max_abs, gap)
        scale = max(abs(a), abs(b))
        self.max_rel = max(self.max_rel, gap / scale)
        self.outside += gap > max(self.atol, self.rtol * scale)

    def values(self, a: Any, b: Any, where: str) -> None:
        if self.mismatch:
            return
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
        if not numbers:
            if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
                for key in a:
                    self.values(a[key], b[key], f"{where}.{key}")
            elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                for index, (x, y) in enumerate(zip(a, b, strict=True)):
                    self.values(x, y, f"{where}[{index}]")
            elif a != b:
                self.mismatch = f"{where}: {a!r} != {b!r}"
            return
        self.numbers(float(a), float(b))

    def within(self) -> bool:
        """Every number within `atol` or `rtol` of its counterpart, and nothing else different."""
        return not self.mismatch and self.outside == 0


def file_drift(old: Path, new: Path, old_root: Path, new_root: Path, rtol: float, atol: float) -> Drift:
    """The drift between one output file of two runs, read as the output record reads it."""
    drift = Drift(rtol, atol)
    if old.suffix == ".json":
        drift.values(
            _without_wall_clock(json.loads(old.read_text()), str(old_root)),
            _without_wall_clock(json.loads(new.read_text()), str(new_root)),
            old.name,
        )
    elif old.suffix == ".parquet":
        a, b = pl.read_parquet(old), pl.read_parquet(new)
        if a.schema != b.schema or a.height != b.height:
            drift.mismatch = f"{old.name}: schema or length differs"
        else:
            drift.values(a.to_dict(as_series=False), b.to_dict(as_series=False), old.name)
    else:
        drift.mismatch = f"{old.name}: content differs"
    return drift


def compare(old_root: Path, new_root: Path, rtol: float, atol: float) -> list[tuple[str, Drift | None]]:
    """Each output file that differs, by run: (run/file, its drift, or None for a file in one set only)."""
    found: list[tuple[str, Drift | None]] = []
    for run in commands(old_root):
        old_folder, new_folder = output_folder(old_root, run), output_folder(new_root, run)
        old_files = {str(p.relative_to(old_folder)): p for p in _output_files(old_folder)}
        new_files = {str(p.relative_to(new_folder)): p for p in _output_files(new_folder)}
        for name in sorted(old_files.keys() | new_files.keys()):
            if name not in old_files or name not in new_files:
                found.append((f"{run}/{name}", None))
                continue
            old, new = old_files[name], new_files[name]
            if _content_hash(old, str(old_root)) != _content_hash(new, str(new_root)):
                found.append((f"{run}/{name}", file_drift(old, new, old_root, new_root, rtol, atol)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-12)
    parser.add_argument("--atol", type=float, default=1e-15)
    args = parser.parse_args()
    found = compare(args.old.resolve(), args.new.resolve(), args.rtol, args.atol)
    failed = False
    for name, drift in found:
        if drift is None:
            print(f"{name}: in one set only")
            failed = True
        elif drift.mismatch:
            print(f"{name}: {drift.mismatch}")
            failed = True
        else:
            ok = drift.within()
            failed |= not ok
            flag = "" if ok else "  OUT OF TOLERANCE"
            print(f"{name}: max abs {drift.max_abs:.1e}, max rel {drift.max_rel:.1e}{flag}")
    verdict = "some not within" if failed else "all within"
    print(f"{len(found)} files differ; {verdict} rtol={args.rtol} atol={args.atol}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
