"""The user's own long-format CSV or Parquet files (one path or a glob)."""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path

import polars as pl

from hierl.data.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def resolve_files(pattern: str | None) -> list[Path]:
    """Files matched by `data.path`, sorted; a DataError when none match."""
    if not pattern:
        raise DataError("data.source=csv needs data.path: a CSV/Parquet file or a glob such as 'prices/*.csv'.")
    files = sorted(Path(name) for name in glob.glob(str(Path(pattern).expanduser())))
    files = [path for path in files if path.is_file()]
    if not files:
        raise DataError(f"data.path={pattern!r} matches no file. Fix: check the path (relative to {Path.cwd()}).")
    unsupported = [str(path) for path in files if path.suffix.lower() not in SUPPORTED_SUFFIXES]
    if unsupported:
        raise DataError(f"data.path matches files that are not CSV or Parquet: {unsupported[:5]}.")
    return files


def files_identity(files: list[Path]) -> str:
    """Hash of each file's name and bytes: the cache is rebuilt whenever a file changes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.resolve()).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"csv:{digest.hexdigest()}"


def read_price_file(path: Path) -> pl.DataFrame:
    """One file as a raw frame; an unreadable or corrupt file is a DataError naming it."""
    try:
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, try_parse_dates=True, infer_schema_length=10_000)
        return pl.read_parquet(path)
    except Exception as error:  # polars raises several unrelated types for a corrupt file
        raise DataError(
            f"{path}: cannot be read as {path.suffix.lstrip('.')} ({error}). Fix: repair or replace the file."
        ) from error
