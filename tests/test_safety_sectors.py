"""The packaged sector table covers the sample symbols and loads from the installed package."""

from __future__ import annotations

from pathlib import Path

import pytest

from hierl.errors import UserError
from hierl.safety import load_sector_table, load_sectors, sector_of

SAMPLE_EQUITIES = (
    "AAPL",
    "AMD",
    "BAC",
    "BBY",
    "CVX",
    "GE",
    "HD",
    "JNJ",
    "JPM",
    "KO",
    "LLY",
    "MRK",
    "MSFT",
    "PEP",
    "PFE",
    "PG",
    "RRC",
    "UNH",
    "WMT",
    "XOM",
)


def test_packaged_table_covers_every_sample_symbol() -> None:
    table = load_sector_table()
    assert set(SAMPLE_EQUITIES) | {"SP500", "NASDAQ", "WTI"} == set(table.sectors)
    assert {table.asset_classes[s] for s in SAMPLE_EQUITIES} == {"equity"}
    assert (table.asset_classes["SP500"], table.sectors["SP500"]) == ("index", "Broad Market")
    assert (table.asset_classes["WTI"], table.sectors["WTI"]) == ("commodity", "Energy Commodity")


def test_packaged_table_matches_the_skfolio_sample() -> None:
    from skfolio import datasets  # a core dependency: an install without it fails here rather than skipping

    assert set(datasets.load_sp500_dataset().columns) <= set(load_sectors())


def test_gics_sectors_of_the_sample() -> None:
    sectors = load_sectors()
    expected = {
        "Information Technology": {"AAPL", "AMD", "MSFT"},
        "Financials": {"BAC", "JPM"},
        "Consumer Discretionary": {"BBY", "HD"},
        "Energy": {"CVX", "XOM", "RRC"},
        "Industrials": {"GE"},
        "Health Care": {"JNJ", "LLY", "MRK", "PFE", "UNH"},
        "Consumer Staples": {"KO", "PEP", "PG", "WMT"},
    }
    for sector, symbols in expected.items():
        assert {s for s in SAMPLE_EQUITIES if sectors[s] == sector} == symbols


def test_unlisted_symbol_has_no_sector_rather_than_a_made_up_one() -> None:
    sectors = load_sectors()
    assert sector_of("EQU000", sectors) is None
    assert sector_of("XOM", sectors) == "Energy"


def test_user_file_loads_without_asset_class_column(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("symbol,sector\nABC, Utilities \n")
    table = load_sector_table(path)
    assert table.sectors == {"ABC": "Utilities"}
    assert table.asset_classes == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("symbol,industry\nABC,Utilities\n", r"lacks columns \['sector'\]"),
        ("symbol,sector\nABC,Utilities\nABC,Energy\n", "lists 'ABC' twice"),
        ("symbol,sector\nABC,\n", "line 2 has an empty symbol or sector"),
    ],
)
def test_malformed_user_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_sector_table(path)


def test_missing_user_file_names_the_setting() -> None:
    with pytest.raises(UserError, match=r"safety\.sector_file"):
        load_sectors("/nonexistent/sectors.csv")
