"""Typed schema of the `data` config group: where prices come from, which features, how time is split."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FeatureConfig:
    """Feature families to build; each name is one column family of the Gold table."""

    technical: list[str] = field(default_factory=lambda: ["ret_1", "ret_5", "ret_21", "vol_21", "mom_63"])
    sentiment: list[str] = field(default_factory=list)
    macro: list[str] = field(default_factory=lambda: ["cpi_yoy", "credit_spread"])
    regime: list[str] = field(default_factory=list)
    # Extra numeric columns of the data (user series, the synthetic `signal`) become sentiment features.
    include_user_series: bool = True
    # Normalised features are clipped to +-clip training standard deviations; null disables clipping.
    clip: float | None = 10.0


@dataclass
class SplitConfig:
    """Contiguous train / validation / test blocks; the test block is what is left after validation.

    Dates (ISO strings) win over fractions when given. `embargo_days` trading days are dropped between blocks;
    null means "as long as the observation window", the minimum that keeps blocks from sharing information.
    """

    train_fraction: float = 0.7
    val_fraction: float = 0.15
    train_end: str | None = None
    val_end: str | None = None
    embargo_days: int | None = None
    # Each block needs at least window + min_block_steps rows.
    min_block_steps: int = 20


@dataclass
class SyntheticConfig:
    """Seeded regime-switching generator, for tests and for users without data."""

    n_assets: int = 8
    n_days: int = 3000
    asset_classes: list[str] = field(default_factory=lambda: ["equity", "commodity"])
    signal_strength: float = 0.0
    seed: int = 0


@dataclass
class DataConfig:
    """Where the data comes from (`source`) and how it is cleaned."""

    source: str = "sample"
    path: str | None = None
    start: str | None = None
    end: str | None = None
    ffill_limit: int = 5
    max_gap_days: int = 10
    release_lag_days: dict[str, int] = field(
        default_factory=lambda: {"core_cpi": 45, "credit_spread": 35, "fama_french": 35}
    )
    # Asset class of rows whose file has no `asset_class` column (csv source).
    default_asset_class: str = "equity"
    # A published macro figure older than this many days is treated as unknown (the series stopped).
    macro_max_age_days: int = 100
    features: FeatureConfig = field(default_factory=FeatureConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
