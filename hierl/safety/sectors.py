"""Sector (and asset class) of each symbol, for the sector caps of the safety gate.

The package ships `hierl/data/reference/sectors.csv` with the GICS sectors of the sample symbols; users with
their own data point `safety.sector_file` at a CSV of the same shape. A symbol missing from the table has no
sector: the sector cap is not checked for it, and the safety report says so, naming `safety.sector_file`.
Pooling such symbols into one made-up sector would cap a diversified book of 500 unlabelled stocks as if it were
a single bet, and refuse every policy on synthetic or user data for a concentration nobody measured; the
single-asset cap (`max_asset_weight`) still holds every symbol.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from hierl.errors import UserError

PACKAGED_SECTORS = "reference/sectors.csv"
REQUIRED_COLUMNS = ("symbol", "sector")


@dataclass(frozen=True)
class SectorTable:
    """symbol -> sector, and symbol -> asset class where the file gives one."""

    sectors: dict[str, str]
    asset_classes: dict[str, str]


def _read_text(path: str | Path | None) -> tuple[str, str]:
    if path is None:
        resource = files("hierl.data").joinpath(PACKAGED_SECTORS)
        return resource.read_text(encoding="utf-8"), f"hierl.data/{PACKAGED_SECTORS}"
    file = Path(path)
    if not file.is_file():
        raise UserError(
            f"sector file {str(file)!r} does not exist; point safety.sector_file at a CSV with columns "
            "symbol,sector[,asset_class] or set it to null for the packaged sample sectors"
        )
    return file.read_text(encoding="utf-8"), str(file)


def load_sector_table(path: str | Path | None = None) -> SectorTable:
    """Read a sector CSV (the packaged one when `path` is None); one row per symbol."""
    text, origin = _read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise UserError(f"sector file {origin} lacks columns {missing}; it needs symbol,sector[,asset_class]")
    sectors: dict[str, str] = {}
    asset_classes: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        symbol = (row["symbol"] or "").strip()
        sector = (row["sector"] or "").strip()
        if not symbol or not sector:
            raise UserError(f"sector file {origin} line {line} has an empty symbol or sector; fill or delete it")
        if symbol in sectors:
            raise UserError(f"sector file {origin} lists {symbol!r} twice (again on line {line}); keep one row")
        sectors[symbol] = sector
        asset_class = (row.get("asset_class") or "").strip()
        if asset_class:
            asset_classes[symbol] = asset_class
    return SectorTable(sectors=sectors, asset_classes=asset_classes)


def load_sectors(path: str | Path | None = None) -> dict[str, str]:
    """symbol -> sector from a sector CSV (the packaged one when `path` is None)."""
    return load_sector_table(path).sectors


def sector_of(symbol: str, sectors: dict[str, str]) -> str | None:
    """The symbol's sector, or None when the table has none for it (the sector cap is then not checked)."""
    return sectors.get(symbol)
