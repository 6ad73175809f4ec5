"""The `hierl` logger: readable lines on the console, JSON lines in the run folder for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from hierl.tracking.files import disk_errno
from hierl.tracking.secrets import RedactSecrets

LOGGER_NAME = "hierl"
LOG_FILE_NAME = "log.jsonl"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record, with any `extra={...}` fields kept as keys."""

    _standard = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in self._standard})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def get_logger(name: str | None = None) -> logging.Logger:
    """The project logger or one of its children (`get_logger("train")` -> `hierl.train`)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_hierl_console", False) for h in logger.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        console.addFilter(RedactSecrets())
        console._hierl_console = True  # type: ignore[attr-defined]
        logger.addHandler(console)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger.getChild(name) if name else logger


class RunLogHandler(logging.FileHandler):
    """The run folder's log file. A full or read-only disk stops the file log quietly: the console still shows
    every line, and the run's own writes report the disk problem once, instead of logging's traceback per record."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError) and disk_errno(error) is not None:
            self.setLevel(logging.CRITICAL + 1)
            return
        super().handleError(record)


def log_to_run_folder(run_dir: Path) -> logging.Handler:
    """Also write every `hierl` record as JSON lines to `run_dir/log.jsonl`; returns the handler to remove later."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = RunLogHandler(run_dir / LOG_FILE_NAME, encoding="utf-8")
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(RedactSecrets())
    get_logger().addHandler(handler)
    return handler


def stop_logging_to(handler: logging.Handler) -> None:
    """Detach and close a handler made by `log_to_run_folder`."""
    get_logger().removeHandler(handler)
    try:
        handler.close()
    except OSError as error:  # the last buffered line did not fit on a full disk; the run already said why
        if disk_errno(error) is None:
            raise
