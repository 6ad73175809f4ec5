"""Parquet cache of the data layers, keyed by a fingerprint of everything that produced an entry.

Layout: `cache_dir/<layer>/<fingerprint>.parquet`, with an optional JSON sidecar `<fingerprint>.json` holding
metadata (normalisation statistics, split bounds). Writes go to a temp file and are renamed into place, so a
killed process never leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from hierl.tracking.files import write_atomic

LAYERS = ("bronze", "silver", "gold")


def fingerprint(*parts: object) -> str:
    """Stable short hash of JSON-serialisable parts (configs as dicts, other fingerprints, versions)."""
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


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
            write_atomic(self.meta_path(layer, key), lambda path: path.write_text(text))
        write_atomic(self.table_path(layer, key), table.write_parquet)
