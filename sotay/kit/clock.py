"""The city's clock: Vietnam keeps one offset (UTC+7) all year, and a "day"
(of reading, of the rollout figures) is a day in Hanoi."""

from datetime import UTC, date, datetime, timedelta, timezone

HANOI = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


def hanoi_day(at: datetime | None = None) -> date:
    return (at or datetime.now(UTC)).astimezone(HANOI).date()
