"""What every env of one asset class prepares once: checked config, asset-major arrays, and where episodes run.

Envs index these arrays in their step loop, so they are laid out for that: one contiguous row of features per
asset (a window is then a plain slice), returns and masks asset-major.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium
import numpy as np

from hierl.config.env import EnvConfig, check_action_design_values
from hierl.data.market import MarketData
from hierl.envs.market_core import DAILY_BARS_PER_YEAR, CostModel
from hierl.errors import EnvSetupError

# Context values appended to the feature window in every observation (see `TradingEnv`).
CONTEXT_NAMES = ("position_fraction", "drawdown", "log_nav_change", "tradable")
MIN_NAV_RATIO = 1e-12  # floor inside the log of the NAV change, so a wiped-out book still gives a finite value


def validate_env_config(cfg: EnvConfig) -> None:
    """Raise one `EnvSetupError` naming the field and the fix, before any array is prepared."""
    if cfg.window < 1:
        raise EnvSetupError(f"env.window={cfg.window} must be at least 1 row")
    if cfg.episode_length < 1:
        raise EnvSetupError(f"env.episode_length={cfg.episode_length} must be at least 1 step")
    if not (math.isfinite(cfg.max_leverage) and cfg.max_leverage > 0.0):
        raise EnvSetupError(f"env.max_leverage={cfg.max_leverage} must be a finite number > 0, e.g. 1.0")
    for field_name in ("cost_bps", "slippage_bps", "borrow_bps_annual"):
        value = getattr(cfg, field_name)
        if not (math.isfinite(value) and value >= 0.0):
            raise EnvSetupError(f"env.{field_name}={value} must be a finite number >= 0")
    if not (math.isfinite(cfg.initial_nav) and cfg.initial_nav > 0.0):
        raise EnvSetupError(f"env.initial_nav={cfg.initial_nav} must be a finite number > 0")
    check_action_design_values(cfg, EnvSetupError)


def cost_model(cfg: EnvConfig, bars_per_year: float = DAILY_BARS_PER_YEAR) -> CostModel:
    """The class's trading costs from its env config: the env, its backtests and the baselines all pay these.

    `bars_per_year` is the class's calendar (`MarketData.bars_per_year`), over which the annual borrow fee is
    charged bar by bar.
    """
    return CostModel(
        cost_bps=cfg.cost_bps,
        slippage_bps=cfg.slippage_bps,
        borrow_bps_annual=cfg.borrow_bps_annual,
        bars_per_year=bars_per_year,
    )


def trading_spaces(window: int, n_features: int) -> tuple[gymnasium.spaces.Box, gymnasium.spaces.Box]:
    """(observation space, action space) of `TradingEnv` and `TradingVecEnv`, defined once so that a policy trained
    on one runs on the other: `window * n_features` features then `CONTEXT_NAMES`; a target position in [-1, 1]."""
    obs_size = window * n_features + len(CONTEXT_NAMES)
    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    return observation_space, action_space


@dataclass(frozen=True)
class AssetArrays:
    """Asset-major copies of the market arrays, made once per env, indexed by one flat (asset, row) index.

    A vectorised env keeps `index = asset * n_days + row` for each of its episodes: then the next row of every
    episode is `index + 1`, and each lookup below is a 1-D gather, several times cheaper per call than the
    2-D `array[assets, rows]` on the small batches an env steps.

    Attributes:
        features: float32 [N * T * F], asset-major, then time, then feature; see `windows`.
        returns: float64 [N * T], `returns[index]` earned by a position chosen at the close of row - 1.
        mask: bool [N * T].
        cash_return: float64 [N * T], the cash return of the row (the same for every asset).
        n_days: T.
        n_features: F.
    """

    features: np.ndarray
    returns: np.ndarray
    mask: np.ndarray
    cash_return: np.ndarray
    n_days: int
    n_features: int

    def windows(self, window: int) -> np.ndarray:
        """float32 [N * T - window + 1, window * F], a strided view (no copy) whose row `index` is the window
        of `window` rows that starts at that (asset, row), time-major then feature.

        Rows of windows that would cross from one asset into the next exist but are never used: an episode's
        windows start at or after the asset's first row and end at or before its last.
        """
        size = window * self.n_features
        item = self.features.itemsize
        return np.lib.stride_tricks.as_strided(
            self.features,
            shape=(len(self.returns) - window + 1, size),
            strides=(self.n_features * item, item),
            writeable=False,
        )


def check_market(market: MarketData) -> None:
    """Shape and dtype checks of the arrays an env reads; one clear error rather than a broadcast failure later."""
    n_days, n_assets, n_features = len(market.dates), market.n_assets, market.n_features
    expected = {
        "features": (market.features, (n_days, n_assets, n_features)),
        "returns": (market.returns, (n_days, n_assets)),
        "mask": (market.mask, (n_days, n_assets)),
        "cash_return": (market.cash_return, (n_days,)),
    }
    for name, (array, shape) in expected.items():
        if array.shape != shape:
            raise EnvSetupError(
                f"MarketData.{name} has shape {array.shape}, expected {shape} "
                f"(dates={n_days}, symbols={n_assets}, feature_names={n_features})"
            )
    if n_features == 0:
        raise EnvSetupError(f"MarketData of {market.asset_class!r} has no features; add a feature family")


def prepare_arrays(market: MarketData) -> AssetArrays:
    check_market(market)
    n_days, n_assets, n_features = market.features.shape
    features = np.ascontiguousarray(market.features.transpose(1, 0, 2), dtype=np.float32)
    cash_return = np.asarray(market.cash_return, dtype=np.float64)
    return AssetArrays(
        features=features.reshape(-1),
        returns=np.ascontiguousarray(market.returns.T, dtype=np.float64).reshape(-1),
        mask=np.ascontiguousarray(market.mask.T, dtype=bool).reshape(-1),
        cash_return=np.tile(cash_return, n_assets),
        n_days=n_days,
        n_features=n_features,
    )


@dataclass(frozen=True)
class EpisodeLayout:
    """Rows of one split block where decisions can be made, and the assets that trade in it.

    A decision at row t needs a full window inside the block (t >= start + window - 1) and the next day's return
    inside the block (t <= stop - 2). Training episodes start where a full `episode_length` still fits (or at
    the first row when the block is shorter) and stop after `episode_length` steps or at the last row.
    """

    split: str
    first_row: int
    last_row: int
    episode_length: int
    tradable_assets: np.ndarray

    def sample(self, rng: np.random.Generator) -> tuple[int, int]:
        """A random (asset index, first decision row) for a training episode."""
        asset = int(self.tradable_assets[rng.integers(len(self.tradable_assets))])
        latest_start = max(self.first_row, self.last_row - self.episode_length + 1)
        return asset, int(rng.integers(self.first_row, latest_start + 1))

    def end_row(self, start_row: int) -> int:
        """Last decision row of a training episode that starts at `start_row`."""
        return min(start_row + self.episode_length - 1, self.last_row)

    def check_training(self, asset_class: str) -> None:
        """Training episodes draw a symbol with a price in the block (`sample`): fail now if there is none."""
        if len(self.tradable_assets) == 0:
            raise EnvSetupError(f"no symbol of {asset_class!r} has a price in the {self.split!r} block")

    def check_start(self, asset: int, start_row: int, n_assets: int) -> None:
        """A pinned (asset, first decision row) must name a symbol of the class and a decision row of the block."""
        if not 0 <= asset < n_assets:
            raise EnvSetupError(f"symbol_index={asset} is out of range; the class has {n_assets} symbols")
        if not self.first_row <= start_row <= self.last_row:
            raise EnvSetupError(
                f"start_row={start_row} is outside the {self.split!r} decision rows [{self.first_row}, {self.last_row}]"
            )


def episode_layout(market: MarketData, split: str, cfg: EnvConfig) -> EpisodeLayout:
    """Where episodes of `split` can run; fails when the market's arrays are malformed or the block is too short
    for one decision (the shapes are checked first, so a bad array gives its own error, not a failed slice)."""
    check_market(market)
    try:
        block = market.block(split)
    except ValueError as error:
        raise EnvSetupError(str(error)) from error
    first_row = block.start + cfg.window - 1
    last_row = block.stop - 2
    if last_row < first_row:
        raise EnvSetupError(
            f"the {split!r} block has {block.stop - block.start} rows; a window of {cfg.window} rows plus one "
            f"holding day needs at least {cfg.window + 1}: lower env.window or enlarge the split"
        )
    visible = market.features[block]
    if not np.isfinite(visible).all():
        raise EnvSetupError(
            f"MarketData.features of {market.asset_class!r} holds NaN or inf in the {split!r} block; "
            "the data layer must fill unavailable features with 0"
        )
    tradable = np.flatnonzero(market.mask[first_row : last_row + 1].any(axis=0))
    return EpisodeLayout(split, first_row, last_row, cfg.episode_length, tradable)
