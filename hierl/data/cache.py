"""Parquet cache of the data layers, keyed by a fingerprint of everything that produced an entry.

Layout: `cache_dir/<layer>/<fingerprint>.parquet`, with an optional JSON sidecar `<fingerprint>.json` holding
metadata (normalisation statistics, split bounds). Writes go to a temp file and are renamed into place, so a
killed process never leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

LAYERS = ("bronze", "silver", "gold")


def fingerprint(*parts: object) -> str:
    """Stable short hash of JSON-serialisable parts (configs as dicts, other fingerprints, versions)."""
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _atomic_write_bytes(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temp_name))
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class LayerCache:
    """Read and write cache entries of the three layers under one directory."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    def table_path(self, layer: str, key: str) -> Path:
        if layer not in LAYERS:
            raise ValueError(f"unknown cache layer {layer!r}; expected one of {LAYERS}")
        return self.cache_dir / layer / f"{key}.parquet"

    def meta_path(self, layer: str, key: str) -> Path:
        return self.table_path(layer, key).with_suffix(".json")

    def read(self, layer: str, key: str) -> pl.DataFrame | None:
        """The cached table, or None on a miss (an entry needs its sidecar too when one was written)."""
        path = self.table_path(layer, key)
        return pl.read_parquet(path) if path.exists() else None

    def read_meta(self, layer: str, key: str) -> dict[str, Any] | None:
        path = self.meta_path(layer, key)
        if not path.exists():
            return None
        result: dict[str, Any] = json.loads(path.read_text())
        return result

    def write(self, layer: str, key: str, table: pl.DataFrame, meta: dict[str, Any] | None = None) -> None:
        """Write the sidecar first, then the table: the table's presence marks a complete entry."""
        if meta is not None:
            text = json.dumps(meta, indent=1, sort_keys=True)
            _atomic_write_bytes(self.meta_path(layer, key), lambda p: p.write_text(text))
        _atomic_write_bytes(self.table_path(layer, key), lambda p: table.write_parquet(p))
