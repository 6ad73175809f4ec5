"""Typed schema of the `walk_forward` config group: the folds of `python -m hierl.walk_forward` and what each trains.

Block lengths are in years, so one config reads the same on any data source and bar frequency; they become bars of
the calendar the folds are cut from at its bars a year (the densest class's `asset.calendar`: 252 for daily equity
bars, 365 for daily crypto bars). See docs/walk_forward.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, Interval, check_ranges, check_value
from hierl.errors import ConfigError

SCHEMES = ("rolling", "expanding")
# The stages a walk-forward fold can run, in order: PPO per class, then the SAC meta-controller over them.
WALK_FORWARD_STAGES = ("ppo", "sac")
POSITIVE_YEARS = Interval(0.0, low_open=True)


@dataclass
class WalkForwardConfig:
    """The folds of a walk-forward study and the units each fold trains.

    `folds` consecutive test blocks of `test_years` each tile the end of the calendar, so their test segments
    stitch into one out-of-sample record. Each fold selects on the `val_years` before its test block and trains
    on the `train_years` before that (`null`: every bar from the data's start); `scheme: rolling` keeps the
    first fold's training length in every fold, `expanding` keeps its start. `embargo_days` rows (bars) lie
    between blocks (null: `data.splits.embargo_days`, else the longest `env.window` of the classes).

    `stages`: `[ppo]` tests one PPO agent per class; `[ppo, sac]` tests the SAC meta-controller over the PPO
    sleeves, which trains on out-of-fold signals: an inner expanding walk-forward of `oof_folds` PPO units per
    class, whose test blocks of `oof_years` each tile the end of the fold's training block. `asset_classes`
    (null: every class of the data) and `seeds` (null: just `seed`) pick the units; each seed is one whole
    record. Units run where `multistage.distributed` / `num_workers` / `ray` say.
    """

    folds: int = 4
    scheme: str = "rolling"
    train_years: float | None = 8.0
    val_years: float = 1.0
    test_years: float = 1.0
    embargo_days: int | None = None
    stages: list[str] = field(default_factory=lambda: ["ppo", "sac"])
    asset_classes: list[str] | None = None
    seeds: list[int] | None = None
    oof_folds: int = 3
    oof_years: float = 1.0

    def __post_init__(self) -> None:
        # Checked as the composed config becomes dataclasses (`to_train_config`), so a bad value stops every
        # entrypoint in one line before any work, and before a run folder is kept for it.
        check_walk_forward_values(self)


WALK_FORWARD_RANGES: dict[str, Interval] = {
    "folds": AT_LEAST_ONE,
    "train_years": Interval(0.0, low_open=True, optional=True),
    "val_years": POSITIVE_YEARS,
    "test_years": POSITIVE_YEARS,
    "embargo_days": Interval(0.0, optional=True),
    "oof_folds": AT_LEAST_ONE,
    "oof_years": POSITIVE_YEARS,
}


def check_walk_forward_values(cfg: WalkForwardConfig) -> None:
    """Every `walk_forward.*` value in range, one ConfigError naming the key and the fix, before any data is read."""
    check_ranges(cfg, WALK_FORWARD_RANGES, "walk_forward")
    if cfg.scheme not in SCHEMES:
        raise ConfigError(f"walk_forward.scheme={cfg.scheme!r} is unknown; choose one of {list(SCHEMES)}")
    stages = list(cfg.stages)
    if stages not in (["ppo"], ["ppo", "sac"]):
        raise ConfigError(
            f"walk_forward.stages={stages} must be [ppo] (the PPO agents alone) or [ppo, sac] (the meta-controller "
            "over them); SAC needs the PPO sleeves' signals"
        )
    classes = cfg.asset_classes
    if classes is not None and (not classes or len(set(classes)) != len(classes)):
        raise ConfigError(
            f"walk_forward.asset_classes={cfg.asset_classes} must be a non-empty list without repeats (or null for "
            "every class of the data)"
        )
    seeds = cfg.seeds
    if seeds is not None:
        if not seeds or len(set(seeds)) != len(seeds):
            raise ConfigError(
                f"walk_forward.seeds={seeds} must be a non-empty list without repeats (or null for just `seed`)"
            )
        for index, seed in enumerate(seeds):
            check_value(f"walk_forward.seeds[{index}]", seed, NON_NEGATIVE)
