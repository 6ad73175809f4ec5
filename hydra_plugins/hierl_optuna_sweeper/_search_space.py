"""Turn Hydra sweep expressions into Optuna distributions, and sampled values back into Hydra overrides.

The syntax is Hydra's own override grammar, as the official Hydra Optuna sweeper reads it, so existing `params`
blocks carry over: `choice(a, b)` and `a,b` are categorical, `range(start, stop, step)` is a stepped int (or float)
distribution over the values Python's `range` would give, `interval(lo, hi)` is a float, `tag(log, ...)` makes it
log-scaled and `tag(int, ...)` integral. Anything that is not a sweep is a fixed override passed to every job.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, ValueType
from hydra.errors import OverrideParseException
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.hierl_optuna_sweeper.errors import SearchSpaceError

_PRIMITIVES = (bool, int, float, str)
_QUOTE_ESCAPES = re.compile(r"(\\*)('|$)")
_INTERVAL_TAGS = frozenset({"log", "int"})
_PARSER = OverridesParser.create()


@dataclass(frozen=True)
class SearchParam:
    """One sampled parameter: its Optuna name, the key as the override writes it, and its distribution.

    `as_text` is set when the categorical choices are lists or dicts: Optuna stores only primitives, so such a
    choice is kept as its override text and passed to the job verbatim.
    """

    name: str
    override_key: str
    distribution: BaseDistribution
    as_text: bool = False

    def override(self, value: Any) -> str:
        """The override that sets this parameter to `value` in a job."""
        text = value if self.as_text else override_text(value)
        return f"{self.override_key}={text}"


@dataclass(frozen=True)
class SearchSpace:
    """Sampled parameters plus the fixed overrides every job gets."""

    params: tuple[SearchParam, ...] = ()
    fixed: tuple[str, ...] = ()

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {param.name: param.distribution for param in self.params}

    def job_overrides(self, values: Mapping[str, Any]) -> list[str]:
        """Fixed overrides, then one per sampled parameter, for a trial whose params are `values`."""
        return [*self.fixed, *(param.override(values[param.name]) for param in self.params)]

    def probe_overrides(self) -> list[str]:
        """Overrides at the first value of every distribution: composing them checks every key before a trial."""
        return self.job_overrides({param.name: _first_value(param.distribution) for param in self.params})


def parse_search_space(params: Mapping[str, Any], arguments: Sequence[str]) -> SearchSpace:
    """Build the search space from the config's `params` and the command-line `arguments`.

    A command-line override replaces a `params` entry for the same key. Every malformed entry is reported in one
    `SearchSpaceError`, so a user fixes them all at once.
    """
    problems: list[str] = []
    entries: dict[str, tuple[str, Override]] = {}
    sources = [
        *((f"hydra.sweeper.params.{key}", f"{key}={_entry_text(value)}") for key, value in params.items()),
        *(("command line", argument) for argument in arguments),
    ]
    for source, line in sources:
        try:
            [override] = _PARSER.parse_overrides([line])
        except OverrideParseException as error:
            problems.append(f"{source}: {line!r}: {_parse_message(error)}")
            continue
        entries.pop(_name(override), None)
        entries[_name(override)] = (source, override)

    sampled: list[SearchParam] = []
    fixed: list[str] = []
    for source, override in entries.values():
        if not override.is_sweep_override():
            fixed.append(override.input_line or "")
            continue
        try:
            sampled.append(_search_param(override))
        except ValueError as error:
            problems.append(f"{source}: {override.input_line!r}: {error}")
    if problems:
        raise SearchSpaceError(
            "the search space has errors:\n  "
            + "\n  ".join(problems)
            + "\nUse choice(a, b), a,b, range(start, stop[, step]), interval(lo, hi), tag(log, interval(lo, hi)),"
            " tag(int, interval(lo, hi)) or a fixed value."
        )
    return SearchSpace(params=tuple(sampled), fixed=tuple(fixed))


def _entry_text(value: Any) -> str:
    """A `params` value as override text: strings are Hydra expressions already, other YAML values are fixed."""
    return value if isinstance(value, str) else override_text(value)


def _parse_message(error: OverrideParseException) -> str:
    """Hydra's message without its grammar link and its restatement of the override."""
    lines = [line for line in str(error).splitlines() if not line.startswith(("See https:", "Error parsing override"))]
    return "; ".join(lines)


def _name(override: Override) -> str:
    return override.key_or_group if override.package is None else f"{override.key_or_group}@{override.package}"


def _search_param(override: Override) -> SearchParam:
    sweep = override.value()
    name = _name(override)
    key = override.get_key_element()
    if override.value_type in (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP):
        assert isinstance(sweep, ChoiceSweep)
        _reject_tags(sweep.tags, "choice")
        choices = list(sweep.list)
        primitives = [choice for choice in choices if isinstance(choice, _PRIMITIVES)]
        if len(primitives) == len(choices):
            return SearchParam(name, key, CategoricalDistribution(primitives))
        return SearchParam(name, key, CategoricalDistribution([override_text(c) for c in choices]), as_text=True)
    if override.value_type == ValueType.RANGE_SWEEP:
        assert isinstance(sweep, RangeSweep)
        _reject_tags(sweep.tags, "range")
        return SearchParam(name, key, _range_distribution(sweep))
    if override.value_type == ValueType.INTERVAL_SWEEP:
        assert isinstance(sweep, IntervalSweep)
        return SearchParam(name, key, _interval_distribution(sweep))
    raise SearchSpaceError("glob(...) selects config files and has no Optuna distribution; list them in choice(...)")


def _reject_tags(tags: set[str], kind: str) -> None:
    if tags:
        raise SearchSpaceError(f"tags {sorted(tags)} do not apply to {kind}(...); only interval(...) takes log or int")


def _range_distribution(sweep: RangeSweep) -> BaseDistribution:
    assert sweep.start is not None and sweep.stop is not None and sweep.step is not None
    if sweep.step == 0:
        raise SearchSpaceError("range step must not be 0")
    numbers = (sweep.start, sweep.stop, sweep.step)
    if all(isinstance(n, int) for n in numbers):
        values = range(int(sweep.start), int(sweep.stop), int(sweep.step))
        if len(values) == 0:
            raise SearchSpaceError("the range is empty")
        return IntDistribution(min(values), max(values), step=abs(int(sweep.step)))
    start, stop, step = (Decimal(str(n)) for n in numbers)
    count = math.ceil((stop - start) / step)
    if count <= 0:
        raise SearchSpaceError("the range is empty")
    last = start + (count - 1) * step
    return FloatDistribution(float(min(start, last)), float(max(start, last)), step=float(abs(step)))


def _interval_distribution(sweep: IntervalSweep) -> BaseDistribution:
    assert sweep.start is not None and sweep.end is not None
    unknown = sweep.tags - _INTERVAL_TAGS
    if unknown:
        raise SearchSpaceError(f"unknown tags {sorted(unknown)} on interval(...); it takes log and int")
    log = "log" in sweep.tags
    if "int" not in sweep.tags:
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    if not (float(sweep.start).is_integer() and float(sweep.end).is_integer()):
        raise SearchSpaceError("tag(int, interval(lo, hi)) needs whole-number bounds")
    return IntDistribution(int(sweep.start), int(sweep.end), log=log)


def _first_value(distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    if isinstance(distribution, IntDistribution | FloatDistribution):
        return distribution.low
    raise TypeError(f"no first value for {distribution!r}")


def override_text(value: Any) -> str:
    """`value` written in Hydra's override grammar, so that parsing the text gives back the same value and type.

    A top-level string stays bare when it reads back unchanged (`asset=equity`); strings inside lists and dicts are
    always quoted, where `,` `:` and brackets would otherwise split them.
    """
    if isinstance(value, str) and _reads_back_unquoted(value):
        return value
    return _element_text(value)


def _element_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if math.isfinite(value) else str(value).lower()
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_key_text(k)}:{_element_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_element_text(item) for item in value) + "]"
    raise SearchSpaceError(f"{value!r} ({type(value).__name__}) cannot be written as a Hydra override")


def _key_text(key: Any) -> str:
    return str(key) if isinstance(key, str) and key.isidentifier() else _element_text(key)


@functools.cache
def _reads_back_unquoted(text: str) -> bool:
    """Whether Hydra parses `text` as this very string; such values (config group options) stay unquoted."""
    if not text or text != text.strip():
        return False
    try:
        [override] = _PARSER.parse_overrides([f"key={text}"])
    except OverrideParseException:
        return False
    return override.value_type == ValueType.ELEMENT and override.value() == text and type(override.value()) is str


def _quote(text: str) -> str:
    """Single-quote `text`; Hydra reads a backslash literally unless a run of them precedes a quote or the end."""
    return "'" + _QUOTE_ESCAPES.sub(lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), text) + "'"
