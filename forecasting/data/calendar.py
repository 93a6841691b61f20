"""Calendars: what a forecast may know in advance about its days (DESIGN.md's calendar
table), and the check that a calendar covers the days forecast."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from forecasting.errors import DataContractError


def first_uncovered_day(
    calendar: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, channels: Iterable[str]
) -> tuple[pd.Timestamp, str | None] | None:
    """The first day in ``start..end`` that the (validated) calendar has no row for, and
    the channel missing it (None: missing for every channel), or None when it covers them
    all. A row without a channel covers that day for every channel."""
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize())
    when = calendar["ds"].dt.normalize()
    if "channel" in calendar.columns:
        shared = set(when[calendar["channel"].isna()])
        own = calendar.dropna(subset=["channel"]).groupby("channel")["ds"]
        per_channel = {str(c): set(d.dt.normalize()) for c, d in own}
    else:
        shared, per_channel = set(when), {}
    missing: list[tuple[pd.Timestamp, str | None]] = []
    gap = next((d for d in days if d not in shared and not per_channel), None)
    if gap is not None:
        return gap, None
    for channel in sorted(set(map(str, channels))):
        covered = shared | per_channel.get(channel, set())
        first = next((d for d in days if d not in covered), None)
        if first is not None:
            missing.append((first, channel))
    return min(missing, key=lambda m: m[0]) if missing else None


def check_covers(
    calendar: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    channels: Iterable[str],
    source: str = "<calendar>",
) -> None:
    """`DataContractError` naming the first day of ``start..end`` the calendar lacks."""
    gap = first_uncovered_day(calendar, start, end, channels)
    if gap is None:
        return
    day, channel = gap
    whose = f" for channel '{channel}'" if channel else ""
    last = calendar["ds"].max()
    raise DataContractError(
        source,
        f"does not cover the days forecast{whose}: they run {pd.Timestamp(start).date()}.."
        f"{pd.Timestamp(end).date()}, the first missing day is {day.date()} (the calendar "
        f"ends {pd.Timestamp(last).date()})",
        f"extend the calendar to {pd.Timestamp(end).date()}",
        column="ds",
    )
