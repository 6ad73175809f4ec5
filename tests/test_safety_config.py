"""The safety config group: YAML presets type-checked by the schema, class overrides, and bad values refused."""

from __future__ import annotations

import shutil
from dataclasses import fields
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from hierl.config.safety import LIMIT_NAMES, SafetyConfig, SafetyLimitOverrides, SafetyLimits
from hierl.errors import ConfigError
from hierl.safety import SafetyValidator, limits_for_class, portfolio_limits

CONF_SAFETY = Path(__file__).resolve().parents[1] / "conf" / "safety"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A primary config with the safety group and the one env key its default interpolates."""
    ConfigStore.instance().store(group="safety", name="safety_schema", node=SafetyConfig)
    shutil.copytree(CONF_SAFETY, tmp_path / "safety")
    (tmp_path / "main.yaml").write_text("defaults:\n  - safety: default\n  - _self_\nenv:\n  max_leverage: 2.0\n")
    return tmp_path


def compose_safety(config_dir: Path, overrides: list[str]) -> SafetyConfig:
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose("main", overrides=overrides)
    safety = OmegaConf.to_object(cfg.safety)
    assert isinstance(safety, SafetyConfig)
    return safety


def test_default_preset_composes_into_the_schema(config_dir: Path) -> None:
    cfg = compose_safety(config_dir, [])
    assert cfg.enabled and not cfg.allow_violations and cfg.split == "val"
    assert cfg.limits.max_gross_exposure == 2.0  # the env's leverage bound
    assert limits_for_class(cfg, "index").max_sector_weight is None
    assert limits_for_class(cfg, "index").max_asset_weight == 2.0
    assert limits_for_class(cfg, "equity") == cfg.limits
    assert cfg.turnover_cost_coverage == SafetyConfig().turnover_cost_coverage == 2.0
    SafetyValidator(cfg)


def test_turnover_cost_coverage_can_be_switched_off(config_dir: Path) -> None:
    assert compose_safety(config_dir, ["safety.turnover_cost_coverage=null"]).turnover_cost_coverage is None


def test_command_line_overrides_are_type_checked(config_dir: Path) -> None:
    cfg = compose_safety(
        config_dir, ["safety.per_asset_class.index.max_asset_weight=3", "safety.limits.max_net_exposure=0.5"]
    )
    assert limits_for_class(cfg, "index").max_asset_weight == 3.0
    assert cfg.limits.max_net_exposure == 0.5
    with pytest.raises(ConfigCompositionException, match=r"override safety\.limits\.max_drawdown=abc") as caught:
        compose_safety(config_dir, ["safety.limits.max_drawdown=abc"])
    # The schema's type check is the cause: a float field that a string cannot become.
    assert isinstance(caught.value.__cause__, ValidationError)
    assert "Value 'abc' of type 'str' could not be converted to Float" in str(caught.value.__cause__)
    assert "full_key: safety.limits.max_drawdown" in str(caught.value.__cause__)


def test_off_preset_disables_the_gate(config_dir: Path) -> None:
    assert not compose_safety(config_dir, ["safety=off"]).enabled


def test_overrides_and_limits_name_the_same_limits() -> None:
    override_names = [f.name for f in fields(SafetyLimitOverrides) if f.name != "disabled"]
    assert override_names == list(LIMIT_NAMES)


def test_class_overrides_set_disable_and_inherit() -> None:
    cfg = SafetyConfig(
        limits=SafetyLimits(max_drawdown=0.5, max_asset_weight=1.0),
        per_asset_class={"commodity": SafetyLimitOverrides(max_drawdown=0.3, disabled=["max_asset_weight"])},
    )
    commodity = limits_for_class(cfg, "commodity")
    assert (commodity.max_drawdown, commodity.max_asset_weight) == (0.3, None)
    assert commodity.max_annual_turnover == cfg.limits.max_annual_turnover
    assert portfolio_limits(cfg, {"commodity"}) == commodity
    assert portfolio_limits(cfg, {"commodity", "equity"}) == cfg.limits


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (SafetyConfig(limits=SafetyLimits(max_drawdown=-0.1)), "safety.limits.max_drawdown"),
        (SafetyConfig(limits=SafetyLimits(max_gross_exposure=float("nan"))), "safety.limits.max_gross_exposure"),
        (
            SafetyConfig(per_asset_class={"index": SafetyLimitOverrides(max_asset_weight=-1.0)}),
            "safety.per_asset_class.index.max_asset_weight",
        ),
        (
            SafetyConfig(per_asset_class={"index": SafetyLimitOverrides(disabled=["max_sector_cap"])}),
            r"safety.per_asset_class.index.disabled names unknown limits \['max_sector_cap'\]",
        ),
        (SafetyConfig(split="validation"), "safety.split"),
        (
            SafetyConfig(turnover_cost_coverage=0.5),
            r"^safety\.turnover_cost_coverage=0\.5 must be a finite number >= 1, or null$",
        ),
    ],
)
def test_bad_config_is_refused_with_the_key_to_fix(cfg: SafetyConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SafetyValidator(cfg)
