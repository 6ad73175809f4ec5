"""Errors that mean "the user asked for something that cannot work"; entrypoints print them in one line."""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in the user's config, data or files, with the fix in its message."""


class ConfigError(UserError):
    """A config value that passed the schema's type check but cannot work (e.g. batch larger than a rollout)."""
