"""Periods: the one place that knows how long a day, a week or a month is.

Periods are labelled by their first day: days as themselves, weeks by their Monday
(pandas ``W-MON``), months by their first day (``MS``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.errors import ForecastingError

#: The pandas frequency of each period label (what statsforecast / mlforecast are given).
PANDAS_FREQ: dict[str, str] = {"D": "D", "W": "W-MON", "M": "MS"}

#: Nominal days in one period of each frequency (a month: a twelfth of a Julian year).
NOMINAL_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


def check_freq(freq: str) -> str:
    """``freq`` itself when it is D, W or M; a user error otherwise."""
    if freq not in PANDAS_FREQ:
        raise ForecastingError(f"unknown frequency {freq!r}: use D, W or M")
    return freq


def period_start(ts: pd.Series, freq: str) -> pd.Series:
    """The first day of the period that holds each timestamp."""
    check_freq(freq)
    if freq == "D":
        return ts.dt.normalize()
    if freq == "W":
        return ts.dt.normalize() - pd.to_timedelta(ts.dt.dayofweek, unit="D")
    return ts.dt.to_period("M").dt.start_time


def period_days(freq: str) -> float:
    """Nominal days in one period of ``freq``."""
    return NOMINAL_DAYS[check_freq(freq)]


def fixed_period_days(freq: str) -> int | None:
    """Days in every period of ``freq`` when they are all alike (days, weeks); None for
    months."""
    return {"D": 1, "W": 7}.get(check_freq(freq))


def horizon_days(end: pd.Timestamp, freq: str, h: int) -> float:
    """Days in the ``h`` periods after the period starting at ``end`` (calendar days:
    a horizon of months counts each month's own days)."""
    dates = pd.date_range(end, periods=h + 2, freq=PANDAS_FREQ[check_freq(freq)])
    return float((dates[-1] - dates[1]).days)


def median_step_days(ds: pd.Series | np.ndarray) -> float:
    """Days between consecutive distinct dates of a table, their median (at least 1): the
    period of data whose frequency is not given (1 for days, 7 for weeks, ~30 for months)."""
    dates = np.unique(np.asarray(ds, dtype="datetime64[ns]"))
    step = np.diff(dates).astype("timedelta64[D]").astype("float64")
    return max(float(np.median(step)) if len(step) else 1.0, 1.0)


def days_per_row(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """Days in each row's period, as the days since the previous row of its group of ``by``
    (each group sorted by ``ds``); a group's first row gets the median step (1 for daily
    data, 7 for weekly, about 30 for monthly)."""
    step = frame.groupby(by, observed=True)["ds"].diff().dt.days
    return step.fillna(step.median() if step.notna().any() else 1.0).clip(lower=1)


def training_period(model: object) -> dict[str, str | None]:
    """``{"start", "end"}``: the first and last day of a fitted model's training data
    (its ``data_start_`` / ``data_end_``) as ISO dates; None where not recorded."""
    out: dict[str, str | None] = {}
    for key in ("start", "end"):
        value = getattr(model, f"data_{key}_", None)
        out[key] = None if value is None else str(pd.Timestamp(value).date())
    return out


def read_training_period(
    saved: dict[str, str | None] | None,
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """`training_period` read back (a model saved before it was recorded: None, None)."""
    saved = saved or {}
    start, end = saved.get("start"), saved.get("end")
    return (pd.Timestamp(start) if start else None, pd.Timestamp(end) if end else None)
