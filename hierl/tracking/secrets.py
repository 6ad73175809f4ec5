"""Keeps credentials out of everything a run writes or sends: tracked configs and log lines.

A value is secret when its key names a credential (`api_key`, `token`, `password`, `secret`) or when it equals
the value of such an environment variable (`WANDB_API_KEY`, ...), which catches `${oc.env:...}` interpolations.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
_SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)", re.IGNORECASE)
# Short values ("1", "true") would redact innocent text everywhere.
_MIN_SECRET_LENGTH = 8


def is_secret_name(name: str) -> bool:
    """True for keys and environment variables that name a credential."""
    return bool(_SECRET_NAME.search(name))


def secret_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Values of the environment's credential variables, long enough to be recognised safely."""
    env = os.environ if environ is None else environ
    return {value for name, value in env.items() if is_secret_name(name) and len(value) >= _MIN_SECRET_LENGTH}


def redact_config(flat: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of a flat config whose credential keys and credential-valued entries read `***`."""
    secrets = secret_values(environ)
    return {
        key: REDACTED if is_secret_name(key.rsplit(".", 1)[-1]) or (isinstance(v, str) and v in secrets) else v
        for key, v in flat.items()
    }


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every credential value of the environment replaced by `***`."""
    for value in secret_values(environ):
        text = text.replace(value, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """A logging filter that rewrites a record's message so no credential value reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
