"""The one error type of the data layer, so callers can tell bad user data from bugs."""

from __future__ import annotations

from hierl.errors import UserError


class DataError(UserError):
    """A problem with the user's data or data config; the message names the thing and the fix."""
