"""The old import path of the headline report, which now lives in `hierl.reports.headline`.

Kept only for `hierl.orchestration.pipeline`, which still imports from here; import `hierl.reports.headline`.
"""

from __future__ import annotations

from hierl.reports.headline import build_headline, write_headline

__all__ = ["build_headline", "write_headline"]
