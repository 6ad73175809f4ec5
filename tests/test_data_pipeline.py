"""The entry point: the sample loads with the shipped defaults, the cache is reused and invalidated correctly,
normalisation uses training rows only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from hierl.config.data import DataConfig, FeatureConfig, SyntheticConfig
from hierl.config.store import register_configs
from hierl.data import pipeline
from hierl.data.pipeline import available_asset_classes, load_market_data

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
WINDOW = 16


def data_config(option: str) -> DataConfig:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        composed = compose(config_name=f"data/{option}")
    cfg = OmegaConf.to_object(composed.data)
    assert isinstance(cfg, DataConfig)
    return cfg


@pytest.fixture(scope="module")
def sample_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sample_cache")


@pytest.mark.parametrize("asset_class", ["equity", "index", "commodity"])
def test_sample_loads_with_defaults(asset_class: str, sample_cache: Path) -> None:
    cfg = data_config("sample")
    market = load_market_data(cfg, asset_class, WINDOW, sample_cache)
    n_assets = {"equity": 20, "index": 2, "commodity": 1}[asset_class]
    n_dates = len(market.dates)
    assert 4700 < n_dates < 4800  # 2000-2018 trading days
    assert market.features.shape == (n_dates, n_assets, len(cfg.features.technical) + 2 + 5 + 2)
    assert market.features.dtype == np.float32 and np.isfinite(market.features).all()
    assert market.returns.shape == market.mask.shape == market.prices.shape == (n_dates, n_assets)
    assert market.returns[0].tolist() == [0.0] * n_assets
    assert np.all(np.diff(market.dates.astype(np.int64)) > 0)
    assert str(market.dates[0]) >= "2000-01-01" and str(market.dates[-1]) <= "2018-12-31"
    (train_start, train_stop), (val_start, val_stop), (test_start, test_stop) = (
        market.split_bounds[name] for name in ("train", "val", "test")
    )
    assert train_start == 0 and val_start - train_stop == WINDOW and test_start - val_stop == WINDOW
    assert test_stop == n_dates
    # prices agree with returns where both days are real
    both = market.mask[1:] & market.mask[:-1]
    implied = market.prices[1:] / market.prices[:-1] - 1.0
    np.testing.assert_allclose(market.returns[1:][both], implied[both], rtol=1e-12)
    # cash earns the (positive, small) T-bill rate in 2000
    assert 0.0 < market.cash_return[1] < 0.001
    # every feature varies somewhere except those the train block never saw
    assert (market.features.std(axis=(0, 1)) > 0).sum() >= market.n_features - 1


def test_available_asset_classes(sample_cache: Path) -> None:
    assert available_asset_classes(data_config("sample"), sample_cache) == ["commodity", "equity", "index"]


def test_symbol_subset_matches_full_universe(sample_cache: Path) -> None:
    cfg = data_config("sample")
    full = load_market_data(cfg, "equity", WINDOW, sample_cache)
    subset = load_market_data(cfg, "equity", WINDOW, sample_cache, symbols=["MSFT", "AAPL"])
    columns = [full.symbols.index("MSFT"), full.symbols.index("AAPL")]
    assert subset.symbols == ("MSFT", "AAPL")
    np.testing.assert_array_equal(subset.features, full.features[:, columns])
    np.testing.assert_array_equal(subset.returns, full.returns[:, columns])
    assert subset.fingerprint != full.fingerprint


def small_synthetic(**overrides: object) -> DataConfig:
    synthetic = SyntheticConfig(n_assets=4, n_days=600, asset_classes=["equity"], seed=3)
    features = FeatureConfig(technical=["ret_1", "vol_21"], sentiment=["breadth_5"], macro=[], regime=[])
    return DataConfig(source="synthetic", synthetic=synthetic, features=features, **overrides)  # type: ignore[arg-type]


def test_cache_hit_does_not_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = small_synthetic()
    first = load_market_data(cfg, "equity", WINDOW, tmp_path)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt a cached layer")

    for name in ("_load_raw", "build_silver", "build_gold", "load_reference_series"):
        monkeypatch.setattr(pipeline, name, fail)
    second = load_market_data(cfg, "equity", WINDOW, tmp_path)
    np.testing.assert_array_equal(first.features, second.features)
    assert first.fingerprint == second.fingerprint
    for layer in ("bronze", "silver", "gold"):
        assert list((tmp_path / layer).glob("*.parquet")), layer
    assert not list(tmp_path.rglob("*.tmp"))


def test_config_change_rebuilds_only_affected_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_market_data(small_synthetic(), "equity", WINDOW, tmp_path)
    calls: list[str] = []
    original = pipeline.build_gold

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("gold")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "build_gold", counting)
    monkeypatch.setattr(pipeline, "build_silver", lambda *a, **k: pytest.fail("silver rebuilt"))
    changed = small_synthetic()
    changed.features.technical = ["ret_1", "ret_5"]
    market = load_market_data(changed, "equity", WINDOW, tmp_path)
    assert calls == ["gold"] and market.feature_names == ("ret_1", "ret_5", "breadth_5", "signal")
    load_market_data(changed, "equity", WINDOW + 4, tmp_path)  # the window moves the split bounds
    assert calls == ["gold", "gold"]
    assert len(list((tmp_path / "gold").glob("*.parquet"))) == 3


def test_normalisation_fitted_on_train_rows_only(tmp_path: Path) -> None:
    cfg = small_synthetic()
    market = load_market_data(cfg, "equity", WINDOW, tmp_path)
    (gold_file,) = (tmp_path / "gold").glob("*.parquet")
    meta = json.loads(gold_file.with_suffix(".json").read_text())
    raw = pl.read_parquet(gold_file).to_pandas()
    train_start, train_stop = market.split_bounds["train"]
    train_dates = set(market.dates[train_start:train_stop].astype("datetime64[ns]"))
    for index, name in enumerate(market.feature_names):
        in_train = raw["date"].astype("datetime64[ns]").isin(train_dates) & raw["mask"]
        values = raw.loc[in_train, name].dropna().to_numpy(dtype=np.float64)
        expected_mean, expected_std = values.mean(), values.std(ddof=1)
        assert meta["normalisation"][name]["mean"] == pytest.approx(expected_mean, rel=1e-9, abs=1e-12)
        assert meta["normalisation"][name]["std"] == pytest.approx(expected_std, rel=1e-9)
        wide = raw.pivot(index="date", columns="symbol", values=name).to_numpy(dtype=np.float64)
        expected = np.nan_to_num(np.clip((wide - expected_mean) / expected_std, -10, 10))
        np.testing.assert_allclose(market.features[:, :, index], expected, rtol=1e-5, atol=1e-5)
    # the statistics ignore everything after the training block
    train_only = market.features[train_start:train_stop]
    assert abs(float(train_only[..., 0].mean())) < 1e-3 and abs(float(train_only[..., 0].std()) - 1) < 1e-2


def test_a_saved_normalisation_replaces_the_fitted_one(tmp_path: Path) -> None:
    cfg = small_synthetic()
    trained = load_market_data(cfg, "equity", WINDOW, tmp_path)
    later = small_synthetic()
    later.splits.train_fraction = 0.5  # another training block, so fitting would give other statistics
    refitted = load_market_data(later, "equity", WINDOW, tmp_path)
    replayed = load_market_data(later, "equity", WINDOW, tmp_path, normalisation=trained.normalisation)
    assert refitted.normalisation != trained.normalisation
    assert replayed.normalisation == trained.normalisation
    # same raw values scaled with the trained run's statistics: undo the refit, apply the saved one
    for index, name in enumerate(trained.feature_names):
        fitted, saved = refitted.normalisation[name], trained.normalisation[name]
        if not (fitted["fitted"] and saved["fitted"]):
            continue
        raw = refitted.features[..., index].astype(np.float64) * float(fitted["std"]) + float(fitted["mean"])
        scaled = refitted.features[..., index]
        inside = (np.abs(scaled) < 9.9) & (scaled != 0.0)  # away from the clip and from undefined values (0)
        expected = (raw - float(saved["mean"])) / float(saved["std"])
        np.testing.assert_allclose(
            replayed.features[..., index][inside & (np.abs(expected) < 9.9)],
            expected[inside & (np.abs(expected) < 9.9)],
            rtol=1e-4,
            atol=1e-4,
        )


def test_a_saved_normalisation_for_other_features_is_refused(tmp_path: Path) -> None:
    cfg = small_synthetic()
    trained = load_market_data(cfg, "equity", WINDOW, tmp_path)
    stats = dict(trained.normalisation)
    stats["not_a_feature"] = {"mean": 0.0, "std": 1.0, "fitted": True}
    with pytest.raises(pipeline.DataError, match="saved normalisation covers features"):
        load_market_data(cfg, "equity", WINDOW, tmp_path, normalisation=stats)
