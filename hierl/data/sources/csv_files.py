"""The user's own long-format CSV or Parquet files (one path or a glob)."""

from __future__ import annotations

import csv
import glob
import hashlib
from pathlib import Path

import polars as pl

from hierl.data.validation import check_unique_columns
from hierl.errors import DataError

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


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV's first line as written (polars renames a repeated name to `<name>_duplicated_0`)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        return next(csv.reader(handle), [])


def _read_csv(path: Path) -> pl.DataFrame:
    check_unique_columns(csv_header(path), str(path))
    frame = pl.read_csv(path, try_parse_dates=True, infer_schema_length=10_000)
    date_type = frame.schema.get("date")
    if isinstance(date_type, pl.Datetime) and date_type.time_zone is not None:
        # polars converts timestamps with a UTC offset to UTC, which can move them to another date; read them as
        # written, so validation takes the date each one states (see hierl.data.validation on time zones).
        frame = pl.read_csv(
            path, try_parse_dates=True, infer_schema_length=10_000, schema_overrides={"date": pl.String}
        )
    return frame


def read_price_file(path: Path) -> pl.DataFrame:
    """One file as a raw frame; an unreadable or corrupt file is a DataError naming it."""
    try:
        if path.suffix.lower() == ".csv":
            return _read_csv(path)
        return pl.read_parquet(path)
    except DataError:
        raise
    except Exception as error:  # polars raises several unrelated types for a corrupt file
        reason = next(iter(str(error).strip().splitlines()), type(error).__name__)  # polars adds hints on more lines
        raise DataError(
            f"{path}: cannot be read as {path.suffix.lstrip('.')} ({reason}). Fix: repair or replace the file."
        ) from error
