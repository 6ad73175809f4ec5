"""Independent units run locally or on a local Ray; one failing unit costs nobody else's result."""

from __future__ import annotations

import math
import operator

import pytest

from hierl.errors import UserError
from hierl.orchestration.execution import ExecutionConfig, Unit, run_units

# Library functions, so Ray workers can import them: the middle unit raises "math domain error".
UNITS = [Unit("a", operator.mul, (2, 2)), Unit("b", math.sqrt, (-3,)), Unit("c", operator.mul, (4, 4))]


def check(outcomes: list) -> None:
    assert [o.name for o in outcomes] == ["a", "b", "c"]
    assert [o.value for o in outcomes] == [4, None, 16]
    assert outcomes[0].ok and outcomes[2].ok
    assert not outcomes[1].ok and "math domain error" in outcomes[1].error


def test_local_units_report_a_failure_and_keep_the_others() -> None:
    check(run_units(UNITS, ExecutionConfig(distributed=False)))


@pytest.mark.slow
def test_ray_units_report_a_failure_and_keep_the_others() -> None:
    import ray  # a core dependency: an install without it fails here rather than skipping

    try:
        check(run_units(UNITS, ExecutionConfig(distributed=True, num_workers=2)))
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_an_unreachable_ray_address_is_one_clear_error() -> None:
    import ray  # a core dependency: an install without it fails here rather than skipping

    try:
        with pytest.raises(UserError, match=r"multistage\.ray\.address='127\.0\.0\.1:1'"):
            run_units(UNITS, ExecutionConfig(distributed=True, address="127.0.0.1:1"))
    finally:
        ray.shutdown()
