"""A fixture for plot tests: the global matplotlib backend set to one the plots do not use."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib
import pytest


@pytest.fixture
def svg_backend() -> Iterator[None]:
    """The global backend is svg for one test, then restored.

    conftest selects Agg, the canvas every hierl plot draws on, so a plot that switched the global backend to Agg
    would leave it unchanged there; from svg, the switch shows.
    """
    previous = matplotlib.get_backend()
    matplotlib.use("svg", force=True)
    yield
    matplotlib.use(previous, force=True)
