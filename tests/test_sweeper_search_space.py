"""The `params` / command-line syntax maps to the right Optuna distribution, and bad entries fail together."""

from __future__ import annotations

from typing import Any

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.hierl_optuna_sweeper._search_space import SearchSpace, override_text, parse_search_space
from hydra_plugins.hierl_optuna_sweeper.errors import SearchSpaceError


def distribution(expression: str) -> Any:
    space = parse_search_space({"p": expression}, [])
    assert [param.name for param in space.params] == ["p"]
    return space.params[0].distribution


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("choice(a, b)", CategoricalDistribution(["a", "b"])),
        ("choice(0.9, 0.99)", CategoricalDistribution([0.9, 0.99])),
        ("1,2,3", CategoricalDistribution([1, 2, 3])),
        ("range(1, 10, 2)", IntDistribution(1, 9, step=2)),
        ("range(4)", IntDistribution(0, 3)),
        ("range(10, 0, -5)", IntDistribution(5, 10, step=5)),
        ("range(0.1, 0.5, 0.1)", FloatDistribution(0.1, 0.4, step=0.1)),
        ("interval(0, 1)", FloatDistribution(0.0, 1.0)),
        ("tag(log, interval(1e-5, 1e-3))", FloatDistribution(1e-5, 1e-3, log=True)),
        ("tag(int, interval(1, 100))", IntDistribution(1, 100)),
        ("tag(log, int, interval(1, 100))", IntDistribution(1, 100, log=True)),
    ],
)
def test_each_sweep_syntax_maps_to_its_distribution(expression: str, expected: Any) -> None:
    assert distribution(expression) == expected


def test_config_group_options_are_written_bare() -> None:
    assert override_text("equity") == "equity"
    assert override_text("ppo_commodity") == "ppo_commodity"
    assert override_text("1") == "'1'"


def test_fixed_values_are_passed_to_every_job_and_not_sampled() -> None:
    space = parse_search_space({"a": "adam", "b": 3, "c": [64, 64], "d": None}, [])
    assert space.params == ()
    assert space.job_overrides({}) == ["a=adam", "b=3", "c=[64,64]", "d=null"]


def test_command_line_sweeps_join_the_space_and_replace_params_of_the_same_key() -> None:
    space = parse_search_space({"x": "interval(0, 1)", "y": "choice(1, 2)"}, ["x=3,4", "z=interval(0, 1)", "w=5"])
    assert space.distributions == {
        "y": CategoricalDistribution([1, 2]),
        "x": CategoricalDistribution([3, 4]),
        "z": FloatDistribution(0.0, 1.0),
    }
    assert space.job_overrides({"x": 4, "y": 1, "z": 0.5}) == ["w=5", "y=1", "x=4", "z=0.5"]


def test_an_appended_key_keeps_its_plus_in_the_job_override() -> None:
    space = parse_search_space({}, ["+extra=choice(1, 2)"])
    assert space.params[0].name == "extra"
    assert space.job_overrides({"extra": 2}) == ["+extra=2"]


def test_list_choices_are_stored_as_override_text_and_passed_verbatim() -> None:
    space = parse_search_space({"agent.net_arch": "choice([64, 64], [128, 128])"}, [])
    assert space.distributions["agent.net_arch"] == CategoricalDistribution(["[64,64]", "[128,128]"])
    assert space.job_overrides({"agent.net_arch": "[128,128]"}) == ["agent.net_arch=[128,128]"]


def test_probe_overrides_take_the_first_value_of_every_distribution() -> None:
    space = parse_search_space({"lr": "tag(log, interval(1e-5, 1e-3))", "n": "choice(256, 512)"}, [])
    assert space.probe_overrides() == ["lr=1e-05", "n=256"]


ROUND_TRIP_STRINGS = ["plain", "it's", "a\\b", "ends\\", "${a.b}", "1", "true", "x y,z", "a:b"]
ROUND_TRIP_OTHERS = [0.1, 1e-8, -3, True, None, [1, "a:b"], {"k": 2}]


@pytest.mark.parametrize("value", [*ROUND_TRIP_STRINGS, *ROUND_TRIP_OTHERS])
def test_override_text_parses_back_to_the_same_value(value: Any) -> None:
    [override] = OverridesParser.create().parse_overrides([f"key={override_text(value)}"])
    parsed = override.value()
    assert parsed == value
    assert type(parsed) is type(value)


def test_every_malformed_entry_is_named_in_one_error() -> None:
    with pytest.raises(SearchSpaceError) as caught:
        parse_search_space(
            {"a": "choice(1,", "b": "tag(log, interval(0, 1))", "c": "interval(0, 1)"},
            ["d=range(5, 1)", "e=tag(foo, interval(0, 1))", "f=tag(log, choice(1, 2))", "g=glob(*)"],
        )
    message = str(caught.value)
    for where in ["params.a", "params.b", "'d=range(5, 1)'", "'e=tag(foo", "'f=tag(log, choice", "'g=glob(*)'"]:
        assert where in message
    assert "params.c" not in message
    assert "interval(lo, hi)" in message


def test_an_integer_interval_needs_whole_bounds() -> None:
    with pytest.raises(SearchSpaceError, match="whole-number bounds"):
        parse_search_space({"n": "tag(int, interval(1.5, 4))"}, [])


def test_an_empty_space_has_no_params() -> None:
    assert parse_search_space({}, []) == SearchSpace()
