"""Errors that stop a sweep before its first trial; Hydra prints them as one message, without a stack trace."""

from hydra.errors import CompactHydraException


class SweeperConfigError(CompactHydraException, ValueError):
    """`hydra.sweeper` holds a value the sweeper cannot use."""


class SearchSpaceError(CompactHydraException, ValueError):
    """`hydra.sweeper.params` or a command-line sweep cannot be turned into a search space."""
