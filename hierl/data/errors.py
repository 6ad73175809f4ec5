"""The old import path of `DataError`, which now lives in `hierl.errors` with every other user error.

Kept only for `hierl.config.data`, which still imports it from here; import `hierl.errors.DataError` instead.
"""

from __future__ import annotations

from hierl.errors import DataError

__all__ = ["DataError"]
