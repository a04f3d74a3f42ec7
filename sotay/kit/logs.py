"""Log lines: one JSON object a line for a machine to collect (a container's output, or
SOTAY_LOG_FORMAT=json), readable text on a terminal (or SOTAY_LOG_FORMAT=text). Either way
each line carries the trace and span ids of the span current when it was logged, so a
line leads to its trace and a trace to its lines.

Log lines carry ids, never personal data (DESIGN.md): the code logs none (the tests run
whole workloads with known values and search every record). As a last guard the handler
masks what looks like a phone, citizen ID or card number (a run of 8 to 12 digits, a
Vietnamese phone number written with separators) in the message and its traceback.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import IO

import orjson
from opentelemetry import trace

FORMATS = ("auto", "json", "text")

# Digits standing alone (not inside a UUID, a hex id or a word): a card number (8 to 12 digits), a
# citizen ID (12), a phone written plainly (10) or in the international form or with separators.
_PERSONAL_NUMBER = re.compile(
    r"(?<![\w.\-+])(?:(?:\+84|0)(?:[\s.\-]?\d){9}|\d{8,12})(?![\w\-])"
)
MASK = "[redacted]"


def redact(text: str) -> str:
    """The text with anything shaped like a phone, citizen ID or card number masked."""
    return _PERSONAL_NUMBER.sub(MASK, text) if any(c.isdigit() for c in text) else text


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids as hex, if a span is current."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "service"?, "trace_id"?, "span_id"?, "exception"?}."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if self.service:
            line["service"] = self.service
        ids = current_ids()
        if ids:
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    """`time level logger: message [trace=… span=…]`, then the traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        text = super().formatMessage(record)
        ids = current_ids()
        return f"{text} [trace={ids[0]} span={ids[1]}]" if ids else text

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _OurHandler(logging.StreamHandler):
    """The handler configure_logging installs (and replaces when called again)."""


def log_format(requested: str | None, stream: IO) -> str:
    """json or text: as requested, or for `auto`, text on a terminal and JSON anywhere else."""
    chosen = (requested or "auto").strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"SOTAY_LOG_FORMAT={requested!r} is not one of {', '.join(FORMATS)}")
    if chosen == "auto":
        isatty = getattr(stream, "isatty", None)
        return "text" if isatty is not None and isatty() else "json"
    return chosen


def configure_logging(level: str | int = "INFO", fmt: str | None = None, *, stream: IO | None = None,
                      service: str | None = None) -> logging.Handler:
    """The root logger's one handler, writing to `stream` (standard error) in the format
    SOTAY_LOG_FORMAT asks for (`fmt` when given). Uvicorn's loggers reach it too when its
    own configuration is left out (runtime.http_server_config)."""
    stream = stream if stream is not None else sys.stderr
    chosen = log_format(fmt if fmt is not None else os.environ.get("SOTAY_LOG_FORMAT"), stream)
    handler = _OurHandler(stream)
    handler.setFormatter(JsonFormatter(service) if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx tells of every request at INFO, its URL whole: a push endpoint, a webhook's address, a
    # command's own calls (sotay status). Its warnings and errors still come through.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
