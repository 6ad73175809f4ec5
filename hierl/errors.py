"""Errors that mean "the user asked for something that cannot work"; entrypoints print them in one line.

Every user error of hierl is defined here, on the ground floor, so that any layer can raise one without importing
the layer that owns the check (features raise `DataError` without importing the data package, config checks raise
`RewardConfigError` without importing the rewards). Errors that mean a bug in hierl's own code (an array of the
wrong shape handed between two functions) stay `ValueError`s beside the code that raises them.
"""

from __future__ import annotations

import importlib.util


class UserError(ValueError):
    """A mistake in the user's config, data or files, with the fix in its message."""


class ConfigError(UserError):
    """A config value that passed the schema's type check but cannot work (e.g. batch larger than a rollout)."""


class DataError(UserError):
    """A problem with the user's data or data config; the message names the thing and the fix."""


class RewardConfigError(ConfigError):
    """A reward config value that cannot produce a meaningful reward."""


class EnvSetupError(ConfigError):
    """An env cannot be built from this market, split or config."""


class OutputError(UserError):
    """A result could not be written: the disk is full or the folder is not writable."""


class ModelFileError(UserError):
    """A model zip hierl cannot open safely or at all; the message names the file and what to do."""


class UnitsFailed(UserError):
    """Some units of a multi-stage run failed; the others' results are written (see `pipeline_summary.json`)."""


class SafetyViolationError(UserError):
    """A policy broke a hard risk limit and the user did not opt out with `safety.allow_violations=true`."""


class ComparisonError(UserError):
    """Run folders that cannot be compared as asked; the message names the folder or key and the fix."""


class NoRunsError(ComparisonError):
    """The folder holds no run folder (or none that finished)."""


class HeadlineInputError(UserError):
    """A pipeline run folder that does not hold what the headline results are built from."""


class StudyInputError(UserError):
    """Run folders the warm-start study cannot pair (a missing file, seed or evaluation step)."""


class MissingExtraError(UserError):
    """An optional package the config asks for is not installed; the message names the extra that installs it."""


def require_extra(module: str, extra: str, needed_for: str) -> None:
    """Raise `MissingExtraError` unless `module` can be imported, naming `pip install 'hierl[<extra>]'`.

    Ray, W&B and TensorBoard are extras, so a lean install has none of them: the entrypoint checks what its config
    will use before any work starts (a missing package found mid-run would cost the run). `find_spec` looks the
    package up without importing it (wandb alone takes a second to import).
    """
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(f"{needed_for} needs {module}, which is not installed: pip install 'hierl[{extra}]'")
