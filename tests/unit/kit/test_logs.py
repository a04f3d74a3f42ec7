"""Log lines: JSON off a terminal, text on one, the current span's ids on each, and the last
guard masking what looks like a phone, citizen ID or card number."""

import io
import logging

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from sotay.kit.logs import JsonFormatter, TextFormatter, configure_logging, log_format, redact

TRACER = TracerProvider(sampler=ALWAYS_ON).get_tracer("test")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(message: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("sotay.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_json_lines_carry_the_current_spans_ids_and_none_outside_a_span():
    formatter = JsonFormatter("sotay-identity")
    with TRACER.start_as_current_span("request") as span:
        inside = orjson.loads(formatter.format(record("consumer %s: batch of %d", "metrics-accounts", 3)))
    outside = orjson.loads(formatter.format(record("no span")))
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x") and inside["span_id"] == format(context.span_id, "016x")
    assert inside["message"] == "consumer metrics-accounts: batch of 3"
    assert (inside["level"], inside["logger"], inside["service"]) == ("WARNING", "sotay.test", "sotay-identity")
    assert inside["time"].endswith("+00:00")
    assert "trace_id" not in outside and "span_id" not in outside


def test_text_lines_end_with_the_ids_and_keep_the_traceback():
    formatter = TextFormatter()
    try:
        raise RuntimeError("hỏng")
    except RuntimeError:
        import sys
        failed = record("request failed", exc_info=sys.exc_info())
    with TRACER.start_as_current_span("request") as span:
        line = formatter.format(failed)
    first = line.splitlines()[0]
    assert first.endswith(f"[trace={span.get_span_context().trace_id:032x} span={span.get_span_context().span_id:016x}]")
    assert "WARNING sotay.test: request failed" in first and "RuntimeError: hỏng" in line


@pytest.mark.parametrize("value", ["0912345678", "0912 345 678", "0912.345.678", "+84912345678", "+84 912 345 678",
                                   "001088012345", "0100000001", "01234567"])
def test_numbers_shaped_like_personal_data_are_masked(value):
    assert value not in redact(f"member {value} failed"), value
    assert value not in orjson.loads(JsonFormatter().format(record("x %s", value)))["message"]
    assert value not in TextFormatter().format(record("x %s", value))


@pytest.mark.parametrize("text", ["event 01922b3c-1234-7000-8000-123456789012 applied",
                                  "trace 4bf92f3577b34da6a3ce929d0e0e4736", "stream seq 4242", "batch of 500",
                                  "2026-11-28 10:11:12,345", "retry in 1.5 s", "sotay.identity.account_approved.ba-dinh"])
def test_ids_counts_and_dates_are_left_alone(text):
    assert redact(text) == text


def test_an_exceptions_text_is_masked_too():
    try:
        raise ValueError("duplicate key (citizen_id)=(001088012345)")
    except ValueError:
        import sys
        line = orjson.loads(JsonFormatter().format(record("failed", exc_info=sys.exc_info())))
    assert "ValueError" in line["exception"] and "001088012345" not in line["exception"]


def test_the_format_is_json_off_a_terminal_text_on_one_unless_asked():
    assert log_format(None, io.StringIO()) == "json"
    assert log_format("auto", Terminal()) == "text"
    assert log_format("text", io.StringIO()) == "text"
    assert log_format("JSON", Terminal()) == "json"
    with pytest.raises(ValueError, match="SOTAY_LOG_FORMAT"):
        log_format("yaml", io.StringIO())


def test_configure_logging_installs_one_handler_writing_the_chosen_format(monkeypatch):
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        out = io.StringIO()
        monkeypatch.setenv("SOTAY_LOG_FORMAT", "text")
        configure_logging("INFO", stream=io.StringIO())
        configure_logging("INFO", stream=out)  # replaces the first, does not add a second
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1
        logging.getLogger("sotay.test.configure").info("started on %s", "port 8000")
        assert "INFO sotay.test.configure: started on port 8000" in out.getvalue()
        monkeypatch.delenv("SOTAY_LOG_FORMAT")
        json_out = io.StringIO()
        configure_logging("WARNING", stream=json_out, service="sotay")
        logging.getLogger("sotay.test.configure").info("not at WARNING")
        logging.getLogger("sotay.test.configure").warning("at WARNING")
        (line,) = json_out.getvalue().splitlines()
        assert orjson.loads(line)["message"] == "at WARNING"
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)
