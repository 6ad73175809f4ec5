"""The bronze price schema shared by every source."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

REQUIRED_COLUMNS = ("date", "symbol", "close")
OPTIONAL_PRICE_COLUMNS = ("open", "high", "low", "volume")
KEY_COLUMNS = ("date", "symbol", "asset_class")
BASE_COLUMNS = (*KEY_COLUMNS, "close", *OPTIONAL_PRICE_COLUMNS)
DEFAULT_ASSET_CLASS = "default"


@dataclass(frozen=True)
class SourceTable:
    """Long price table of one source plus what identifies it for the cache.

    Attributes:
        prices: columns `date` (Date), `symbol`, `asset_class` (Utf8), `close`, `open`, `high`, `low`,
            `volume` (Float64, null where the source lacks them) and any user series (Float64).
        origin: human name used in error messages, e.g. a file path or "sample".
        identity: what the bronze fingerprint hashes (file hashes, package versions, generator config).
    """

    prices: pl.DataFrame
    origin: str
    identity: str

    @property
    def user_series(self) -> list[str]:
        return [name for name in self.prices.columns if name not in BASE_COLUMNS]


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing optional columns as nulls and order columns as the schema says."""
    missing = [pl.lit(None, dtype=pl.Float64).alias(name) for name in BASE_COLUMNS if name not in frame.columns]
    frame = frame.with_columns(missing)
    extra = [name for name in frame.columns if name not in BASE_COLUMNS]
    return frame.select(*BASE_COLUMNS, *extra)
