"""Calendars the benchmarks give the forecaster where their data ships none.

Online Retail's channels are countries and its shop trades from the UK; its calendar is the
bank holidays of England, computed by python-holidays (no download), as rows of the UK's
channel, and rows for every channel without a holiday on the other days.
"""

from __future__ import annotations

import holidays
import pandas as pd

ONLINE_RETAIL_HOME = "United Kingdom"


def online_retail_calendar(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The calendar contract from ``start`` to ``end``: ``bank_holiday`` (its name, text)
    on England's bank holidays for the channel `ONLINE_RETAIL_HOME`, empty elsewhere."""
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize())
    named = holidays.country_holidays("GB", subdiv="ENG", years=range(start.year, end.year + 1))
    on = sorted((pd.Timestamp(d), name) for d, name in named.items())
    home = pd.DataFrame(
        [(d, ONLINE_RETAIL_HOME, name) for d, name in on if days[0] <= d <= days[-1]],
        columns=["ds", "channel", "bank_holiday"],
    )
    every = pd.DataFrame({"ds": days, "channel": None, "bank_holiday": None})
    return pd.concat([every, home], ignore_index=True)
