"""Every kind of bad input gives one DataError that names the problem, and leaves no cache entry."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hierl.config.data import DataConfig, FeatureConfig
from hierl.data.pipeline import DataError, available_asset_classes, load_market_data

FIXTURE = Path(__file__).parent / "data" / "prices_small.csv"
WINDOW = 8


def csv_config(path: Path, **overrides: object) -> DataConfig:
    features = FeatureConfig(technical=["ret_1", "vol_21"], macro=[])
    return DataConfig(source="csv", path=str(path), features=features, **overrides)  # type: ignore[arg-type]


def cache_files(cache_dir: Path) -> list[Path]:
    return [path for path in cache_dir.rglob("*") if path.is_file()] if cache_dir.exists() else []


def fixture_lines() -> list[str]:
    return FIXTURE.read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_rejected(path: Path, tmp_path: Path, *fragments: str, **overrides: object) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError) as caught:
        load_market_data(csv_config(path, **overrides), "equity", WINDOW, cache_dir)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert cache_files(cache_dir) == []


def test_fixture_loads_as_the_default_class(tmp_path: Path) -> None:
    cfg = csv_config(FIXTURE)
    assert available_asset_classes(cfg, tmp_path) == ["equity"]
    market = load_market_data(cfg, "equity", WINDOW, tmp_path)
    assert market.symbols == ("EQU000", "EQU001")
    assert market.features.shape == (400, 2, 2)


def test_missing_required_column(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE).drop("close")
    path = tmp_path / "no_close.csv"
    frame.write_csv(path)
    assert_rejected(path, tmp_path, str(path), "required column(s) ['close'] missing")


def test_wrong_type_names_column_and_row(tmp_path: Path) -> None:
    lines = fixture_lines()
    date, symbol, _close, *rest = lines[5].split(",")
    lines[5] = ",".join([date, symbol, "abc", *rest])
    path = write_lines(tmp_path / "text_price.csv", lines)
    assert_rejected(path, tmp_path, "column 'close' has type String", "row 5:", "'abc'")


def test_unparseable_date(tmp_path: Path) -> None:
    lines = fixture_lines()
    lines[3] = "03/01/2000" + lines[3][len("2000-01-05") :]
    path = write_lines(tmp_path / "bad_date.csv", lines)
    assert_rejected(path, tmp_path, "column 'date'", str(path))


def test_non_positive_price(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE, try_parse_dates=True).with_row_index()
    frame = frame.with_columns(pl.when(pl.col("index") == 10).then(-1.0).otherwise("close").alias("close"))
    path = tmp_path / "negative.parquet"
    frame.drop("index").write_parquet(path)
    assert_rejected(path, tmp_path, "column 'close' has non-positive", "row 11:", "close=-1.0")


def test_duplicate_date_symbol(tmp_path: Path) -> None:
    lines = fixture_lines()
    lines.insert(8, lines[7])
    path = write_lines(tmp_path / "dup.csv", lines)
    assert_rejected(path, tmp_path, "duplicate (date, symbol)", "row 7:", "row 8:")


def test_unsorted_dates_within_symbol(tmp_path: Path) -> None:
    lines = fixture_lines()
    lines[10], lines[11] = lines[11], lines[10]
    path = write_lines(tmp_path / "unsorted.csv", lines)
    assert_rejected(path, tmp_path, "not sorted within a symbol", "row 11:")


def test_nan_in_required_column(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE, try_parse_dates=True).with_row_index()
    frame = frame.with_columns(pl.when(pl.col("index") == 20).then(float("nan")).otherwise("close").alias("close"))
    path = tmp_path / "nan.parquet"
    frame.drop("index").write_parquet(path)
    assert_rejected(path, tmp_path, "column 'close' has missing, NaN or infinite", "row 21:")


def test_gap_longer_than_limit(tmp_path: Path) -> None:
    lines = fixture_lines()
    del lines[50:60]  # ten business days of the first symbol: a 14-day calendar gap
    path = write_lines(tmp_path / "gap.csv", lines)
    assert_rejected(
        path, tmp_path, "max_gap_days=10 calendar days", "row 50: date=2000-03-24, symbol='EQU000', gap_days=15"
    )


def test_too_little_history_names_the_block(tmp_path: Path) -> None:
    assert_rejected(
        FIXTURE,
        tmp_path,
        "the val block has 13 rows but needs at least window (8)",
        "smaller env.window",
        start="2001-01-01",
    )


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    assert_rejected(path, tmp_path, str(path), "cannot be read")


def test_feature_needing_missing_columns(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE).select("date", "symbol", "close")
    path = tmp_path / "close_only.csv"
    frame.write_csv(path)
    cfg = csv_config(path)
    cfg.features.technical = ["ret_1", "atr_14"]
    with pytest.raises(DataError, match=r"feature 'atr_14' needs column\(s\) \['high', 'low'\].*'equity'"):
        load_market_data(cfg, "equity", WINDOW, tmp_path / "cache")
    assert cache_files(tmp_path / "cache") == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"symbols": ["NOPE"]}, "valid symbols: ['EQU000', 'EQU001']"),
        ({"asset_class": "crypto"}, "available: ['equity']"),
        ({"feature": "ret_x"}, "unknown technical feature 'ret_x'"),
        ({"embargo": 2}, "embargo_days=2 is shorter than the observation window"),
    ],
)
def test_config_errors(tmp_path: Path, change: dict[str, object], fragment: str) -> None:
    cfg = csv_config(FIXTURE)
    if "feature" in change:
        cfg.features.technical = [str(change["feature"])]
    if "embargo" in change:
        cfg.splits.embargo_days = int(change["embargo"])  # type: ignore[call-overload]
    symbols = change.get("symbols")
    asset_class = str(change.get("asset_class", "equity"))
    with pytest.raises(DataError, match=fragment.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_market_data(cfg, asset_class, WINDOW, tmp_path / "cache", symbols=symbols)  # type: ignore[arg-type]
    assert cache_files(tmp_path / "cache") == []


def test_no_matching_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="matches no file"):
        load_market_data(csv_config(tmp_path / "missing_*.csv"), "equity", WINDOW, tmp_path / "cache")
