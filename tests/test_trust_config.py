"""Config values outside their domain and keys no schema has fail in one line when the config is composed."""

from __future__ import annotations

import math
import re

import pytest

from hierl.config.domains import POSITIVE, UNIT_OPEN_BELOW, Interval
from hierl.config.loading import load_config
from hierl.errors import UserError

# override(s) -> the start of the one-line message
OUT_OF_RANGE = {
    "ppo gamma": (["agent.gamma=2.0"], "agent.gamma=2.0 must lie in (0, 1]"),
    "ppo gamma zero": (["agent.gamma=0"], "agent.gamma=0.0 must lie in (0, 1]"),
    "ppo clip range": (["agent.clip_range=-0.2"], "agent.clip_range=-0.2 must be a finite number > 0"),
    "ppo gae lambda": (["agent.gae_lambda=1.5"], "agent.gae_lambda=1.5 must lie in [0, 1]"),
    "ppo entropy": (["agent.ent_coef=-0.01"], "agent.ent_coef=-0.01 must be a finite number >= 0"),
    "ppo target kl": (["agent.target_kl=0"], "agent.target_kl=0.0 must be a finite number > 0, or null"),
    "ppo batch of one": (["agent.batch_size=1"], "agent.batch_size=1 must be >= 2"),
    "ppo learning rate nan": (["agent.learning_rate=nan"], "agent.learning_rate=nan must be a finite number > 0"),
    "sac tau": (["agent=sac", "env=portfolio", "agent.tau=0"], "agent.tau=0.0 must lie in (0, 1]"),
    "sac learning starts": (
        ["agent=sac", "env=portfolio", "agent.learning_starts=-1"],
        "agent.learning_starts=-1 must be >= 0",
    ),
    "cql gamma": (["agent=cql", "agent.gamma=1.0"], "agent.gamma=1.0 must lie in [0, 1)"),
    "cql conservative weight": (
        ["agent=cql", "agent.conservative_weight=-5"],
        "agent.conservative_weight=-5.0 must be a finite number >= 0",
    ),
    "cost": (["env.cost_bps=-1"], "env.cost_bps=-1.0 must be a finite number >= 0"),
    "slippage": (["env.slippage_bps=-1"], "env.slippage_bps=-1.0 must be a finite number >= 0"),
    "leverage": (["env.max_leverage=0"], "env.max_leverage=0.0 must be a finite number > 0"),
    "episode length": (["env.episode_length=0"], "env.episode_length=0 must be >= 1"),
    "borrow nan": (["env.borrow_bps_annual=nan"], "env.borrow_bps_annual=nan must be a finite number >= 0"),
    "borrow inf": (["env.borrow_bps_annual=inf"], "env.borrow_bps_annual=inf must be a finite number >= 0"),
    "window": (["env.window=0"], "env.window=0 must be >= 1"),
    "portfolio sleeve bounds": (
        ["agent=sac", "env=portfolio", "env.min_sleeve_weight=0.7", "env.max_sleeve_weight=0.6"],
        "env.min_sleeve_weight=0.7 must be <= env.max_sleeve_weight=0.6",
    ),
    "portfolio turnover": (
        ["agent=sac", "env=portfolio", "env.turnover_budget=-0.1"],
        "env.turnover_budget=-0.1 must be a finite number >= 0",
    ),
    "reward penalty": (["reward.volatility_penalty=-1"], "reward.volatility_penalty=-1.0: penalties are subtracted"),
    "reward eta": (["reward.dsr_eta=1.5"], "reward.dsr_eta=1.5 must lie in (0, 1)"),
    "safety limit": (["safety.limits.max_drawdown=-1"], "safety.limits.max_drawdown must be a non-negative number"),
    "seed": (["seed=-1"], "seed=-1 must be >= 0"),
    "seeds": (["multistage.seeds=[0,-2]"], "multistage.seeds[1]=-2 must be >= 0"),
    "seeds, old spelling": (["seeds=[0,-2]"], "multistage.seeds[1]=-2 must be >= 0"),
    "workers": (["multistage.num_workers=0"], "multistage.num_workers=0 must be >= 1"),
    "sac signals": (["multistage.sac_signals=oof"], "multistage.sac_signals='oof' is unknown"),
    "oof blocks": (["multistage.oof_folds=0"], "multistage.oof_folds=0 must be >= 1"),
    "oof years": (["multistage.oof_years=0"], "multistage.oof_years=0.0 must be a finite number > 0"),
    "calendar hours": (["asset.calendar.hours_per_day=0"], "asset.calendar.hours_per_day=0.0 must lie in (0, 24]"),
    "calendar days": (["asset.calendar.days_per_year=400"], "asset.calendar.days_per_year=400.0 must lie in (0, 366]"),
    "calendar bars": (
        ["asset.calendar.bars_per_year=-1"],
        "asset.calendar.bars_per_year=-1.0 must be a finite number > 0, or null",
    ),
    "ffill": (["data.ffill_limit=-1"], "data.ffill_limit=-1 must be >= 0"),
    "move limit": (["data.max_abs_log_return=0"], "data.max_abs_log_return=0.0 must be a finite number > 0, or null"),
    "release lag": (["data.release_lag_days.core_cpi=-3"], "data.release_lag_days.core_cpi=-3 must be >= 0"),
    "clip": (["data.features.clip=-1"], "data.features.clip=-1.0 must be a finite number > 0, or null"),
    "fractions": (
        ["data.splits.train_fraction=0.9", "data.splits.val_fraction=0.2"],
        "data.splits.train_fraction=0.9 + data.splits.val_fraction=0.2 must be < 1",
    ),
    "split dates out of order": (
        ["data.splits.train_end=2015-01-01", "data.splits.val_end=2012-01-01"],
        "data.splits.train_end=2015-01-01 must be before data.splits.val_end=2012-01-01",
    ),
    "start after train end": (
        ["data.start=2016-01-01", "data.splits.train_end=2012-01-01"],
        "data.start=2016-01-01 must be before data.splits.train_end=2012-01-01",
    ),
    "start after end": (["data.start=2016-01-01", "data.end=2012-01-01"], "data.start=2016-01-01 must be before"),
    "not a date": (["data.splits.val_end=2012/01/01"], "data.splits.val_end='2012/01/01' is not an ISO date"),
    "synthetic seed": (["data=synthetic", "data.synthetic.seed=-1"], "data.synthetic.seed=-1 must be >= 0"),
    "unknown source": (["data.source=yahoo"], "data.source='yahoo' is unknown"),
}

UNKNOWN_KEYS = {
    "agent typo": ("+agent.lerning_rate=1e-3", "agent.lerning_rate is not a key of PPOConfig", "agent.learning_rate"),
    "reward key": ("+reward.foo_weight=1", "reward.foo_weight is not a key of RewardConfig", "reward.return_weight"),
    "env typo": ("+env.cost_bp=3", "env.cost_bp is not a key of EnvConfig", "env.cost_bps"),
    "nested data typo": (
        "+data.splits.trian_end=2010-01-01",
        "data.splits.trian_end is not a key of SplitConfig",
        "data.splits.train_end",
    ),
    "safety typo": (
        "+safety.limits.max_drawdwn=0.2",
        "safety.limits.max_drawdwn is not a key of SafetyLimits",
        "safety.limits.max_drawdown",
    ),
    "top level": ("+sed=3", "sed is not a key of ComposedConfig", "seed"),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_a_value_outside_its_domain_is_one_line_naming_key_and_range(case: str) -> None:
    overrides, message = OUT_OF_RANGE[case]
    with pytest.raises(UserError, match="^" + re.escape(message)) as caught:
        load_config(overrides)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("case", sorted(UNKNOWN_KEYS))
def test_an_appended_key_no_schema_has_names_the_nearest_real_key(case: str) -> None:
    override, message, nearest = UNKNOWN_KEYS[case]
    with pytest.raises(UserError, match="^" + re.escape(message)) as caught:
        load_config([override])
    assert f"did you mean {nearest}?" in str(caught.value)
    assert "leading '+'" in str(caught.value)


def test_free_form_mappings_still_take_new_keys() -> None:
    cfg = load_config(["+data.release_lag_days.my_series=10", "+multistage.stage_overrides.sac=[]"])
    assert cfg.data.release_lag_days["my_series"] == 10


def test_edge_values_inside_the_domain_pass() -> None:
    cfg = load_config(["agent.gamma=1.0", "agent.gae_lambda=0", "env.cost_bps=0", "seed=0", "agent.target_kl=null"])
    assert cfg.agent.gamma == 1.0 and cfg.agent.target_kl is None


@pytest.mark.parametrize(
    ("interval", "value", "inside"),
    [
        (POSITIVE, 0.0, False),
        (POSITIVE, 1e-12, True),
        (POSITIVE, math.inf, False),
        (POSITIVE, math.nan, False),
        (POSITIVE, None, False),
        (POSITIVE, True, False),
        (UNIT_OPEN_BELOW, 1.0, True),
        (UNIT_OPEN_BELOW, 0.0, False),
        (Interval(1.0, optional=True), None, True),
    ],
)
def test_interval_membership(interval: Interval, value: float | None, inside: bool) -> None:
    assert interval.contains(value) is inside
