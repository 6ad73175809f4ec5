"""The default gate on data without sectors (synthetic or the user's): a policy with an edge gets through, with
the report saying what it could not check; one without an edge is refused naming the key to change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hierl.config.env import EnvConfig
from hierl.config.loading import load_config
from hierl.config.run import TrainConfig
from hierl.config.safety import SafetyConfig
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.envs.episodes import cost_model
from hierl.envs.market_core import CostModel, simulate_portfolio
from hierl.evaluation.backtest import Backtest, default_decision_rows, run_backtest
from hierl.safety import SAFETY_REPORT_FILE, SafetyValidator, SafetyViolationError, apply_safety_gate


def synthetic(tmp_path: Path, strength: float) -> tuple[TrainConfig, MarketData]:
    cfg = load_config(["data=synthetic", f"data.synthetic.signal_strength={strength}", "asset=equity"])
    return cfg, load_market_data(cfg.data, "equity", cfg.env.window, tmp_path / "cache")


def costs_of(cfg: TrainConfig) -> CostModel:
    assert isinstance(cfg.env, EnvConfig)
    return cost_model(cfg.env)


def follow_the_signal(cfg: TrainConfig, market: MarketData) -> Backtest:
    """One equal sleeve per symbol, long or short by the sign of the published signal: gross exposure 1, flipping
    about every other day (the signal is i.i.d.), so it turns over ~250 times a year, far above the cap of 100."""
    rows = default_decision_rows(market, "val")
    signal = market.features[rows, :, market.feature_names.index("signal")]
    weights = np.sign(signal) / market.n_assets
    return run_backtest("agent", market, "val", weights, costs_of(cfg), rows)


def test_a_policy_with_an_edge_on_synthetic_data_passes_the_default_gate(tmp_path: Path) -> None:
    cfg, market = synthetic(tmp_path, 0.5)
    backtest = follow_the_signal(cfg, market)
    # What the gate used to refuse: the symbols have no sector, and pooled into one they held all the book.
    assert not set(market.symbols) & set(SafetyValidator.from_config(cfg.safety).sectors or {})
    assert np.abs(backtest.weights).sum(axis=1) == pytest.approx(1.0)  # > max_sector_weight 0.6
    turnover = backtest.metrics()["turnover"]
    assert 200 < turnover < 300

    report = apply_safety_gate(SafetyValidator.from_config(cfg.safety), backtest, cfg.asset.name, tmp_path)
    assert report is not None
    assert report.passed, report.summary()
    assert "max_sector_weight" not in report.checked
    assert "max_annual_turnover" in report.checked
    assert (
        report.summary()
        .splitlines()[0]
        .endswith(
            "meets 3 of 4 limits (max_drawdown, max_gross_exposure, max_asset_weight); max_annual_turnover waived"
        )
    )
    sector, waiver = report.exemptions
    assert (sector.limit, sector.status, sector.subjects) == ("max_sector_weight", "unchecked", market.symbols)
    assert "safety.sector_file=" in sector.setting

    # The waiver's numbers, recomputed from the market: the book's return over cash before costs, and its costs.
    rows = default_decision_rows(market, "val")
    cash = market.cash_return[rows + 1]
    edge = float(np.mean((backtest.weights * (market.returns[rows + 1] - cash[:, None])).sum(axis=1))) * 252
    costs = costs_of(cfg)
    short = np.clip(-backtest.weights, 0.0, None).sum(axis=1)
    paid = float(np.mean(costs.trade_rate * backtest.result.turnover + costs.borrow_rate_per_bar * short)) * 252
    assert edge > 2 * paid
    assert (waiver.limit, waiver.status) == ("max_annual_turnover", "waived")
    assert f"its return over cash before costs is {edge:.2%} a year against costs of {paid:.2%} a year" in waiver.reason
    assert f"beyond 2 times the costs it earns {edge - 2 * paid:.2%} a year" in waiver.reason
    assert f"turnover {turnover:.4g} is over safety.limits.max_annual_turnover=100" in waiver.reason

    written = json.loads((tmp_path / SAFETY_REPORT_FILE).read_text())
    assert [(e["limit"], e["status"]) for e in written["exemptions"]] == [
        ("max_sector_weight", "unchecked"),
        ("max_annual_turnover", "waived"),
    ]


def test_a_churning_policy_without_an_edge_is_refused_naming_the_turnover_key(tmp_path: Path) -> None:
    cfg, market = synthetic(tmp_path, 0.0)
    backtest = follow_the_signal(cfg, market)
    with pytest.raises(SafetyViolationError) as caught:
        apply_safety_gate(SafetyValidator.from_config(cfg.safety), backtest, cfg.asset.name, tmp_path)
    message = str(caught.value)
    assert "breaks 1 of" in message  # the turnover cap alone: no sector breach
    assert "relax safety.limits.max_annual_turnover=100 (measured" in message
    assert "or safety.per_asset_class.equity.max_annual_turnover for equity only" in message
    assert "a waiver needs that above 0 with t >= 2 (safety.turnover_cost_coverage=2)" in message
    assert "or set safety.allow_violations=true" in message
    written = json.loads((tmp_path / SAFETY_REPORT_FILE).read_text())
    assert [v["limit"] for v in written["violations"]] == ["max_annual_turnover"]
    assert written["exemptions"][0]["limit"] == "max_sector_weight"


def test_a_persistent_signal_is_traded_under_the_cap_without_a_waiver(tmp_path: Path) -> None:
    cfg = load_config(
        [
            "data=synthetic",
            "data.synthetic.signal_strength=0.5",
            "data.synthetic.signal_persistence=0.9",
            "asset=equity",
        ]
    )
    market = load_market_data(cfg.data, "equity", cfg.env.window, tmp_path / "cache")
    backtest = follow_the_signal(cfg, market)
    assert 40 < backtest.metrics()["turnover"] < 100  # the sign flips on ~14% of days: ~72 a year
    report = SafetyValidator.from_config(cfg.safety).check(backtest, "equity")
    assert report.passed, report.summary()
    assert [(e.limit, e.status) for e in report.exemptions] == [("max_sector_weight", "unchecked")]


HEALTH_CARE = ("JNJ", "LLY", "MRK", "PFE", "UNH")


def sample_book(weights: list[float], symbols: tuple[str, ...]) -> Backtest:
    target = np.tile(np.asarray(weights), (3, 1))
    result = simulate_portfolio(target, np.zeros_like(target), np.zeros(3), CostModel())
    dates = np.datetime64("2016-01-04") + np.arange(3).astype("timedelta64[D]")
    return Backtest("agent", dates, symbols, target, result, np.zeros(3))


def test_sample_symbols_are_still_capped_by_their_packaged_sectors() -> None:
    validator = SafetyValidator.from_config(SafetyConfig())
    concentrated = validator.check(sample_book([0.15] * 5 + [0.1], (*HEALTH_CARE, "XOM")), "equity")
    assert [(v.limit, v.symbol_or_group, v.value) for v in concentrated.violations] == [
        ("max_sector_weight", "Health Care", pytest.approx(0.75))
    ]
    assert concentrated.violations[0].setting == "safety.limits.max_sector_weight"
    assert concentrated.exemptions == ()
    assert "exemptions" not in concentrated.to_dict()
    spread = validator.check(sample_book([0.1] * 5 + [0.5], (*HEALTH_CARE, "XOM")), "equity")
    assert spread.passed and "max_sector_weight" in spread.checked and spread.exemptions == ()
