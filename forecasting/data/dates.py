"""Dates read one way: ISO 8601, or the format the user names. Never guessed.

Guessing is how ``05/01/2024`` becomes the 1st of May in one row and the 5th of January in
the next. A date column is ISO 8601 (``2024-01-05``, ``2024-01-05 10:30:00``,
``2024-01-05T10:30:00+08:00``) unless a ``date_format`` (strftime codes, e.g. ``%d/%m/%Y``)
is given; anything else, numbers in a date column, dates outside what pandas holds and a
mix of time zones are refused, naming the rows. A time-zone offset keeps the local wall
time (a sale at 23:30 in Shanghai is that day's sale).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: pandas' nanosecond timestamps hold these years (1677-09-22 .. 2262-04-11).
YEARS = (1678, 2261)
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_YEAR = re.compile(r"^\s*(\d{4,})")


def parse_dates(
    s: pd.Series, date_format: str | None = None
) -> tuple[pd.Series, np.ndarray, str, str]:
    """(``s`` as naive ``datetime64[ns]``, the rows that are not a date, what is wrong with
    them, how to fix it). Empty cells are NaT and not counted as wrong. Text is parsed once
    per distinct value (a table of millions of rows has a few hundred days)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.tz_localize(None) if isinstance(s.dtype, pd.DatetimeTZDtype) else s
        values = out.to_numpy()  # in its own unit: Parquet and Arrow give s, ms or us
        lo, hi = (
            np.datetime64(pd.Timestamp.min.ceil("D")),
            np.datetime64(pd.Timestamp.max.floor("D")),
        )
        with np.errstate(invalid="ignore"):
            outside = ~np.isnat(values) & ((values < lo) | (values > hi))
        if outside.any():
            return (
                pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]"),
                outside,
                f"hold dates outside {YEARS[0]}..{YEARS[1]}, the years pandas can hold",
                "correct them, or drop rows dated as placeholders (like 9999-12-31)",
            )
        return out.astype("datetime64[ns]"), np.zeros(len(s), dtype=bool), "", ""
    fix = (
        f"write them in the format {date_format!r}"
        if date_format
        else "write dates as YYYY-MM-DD (or YYYY-MM-DD HH:MM:SS), or name their format with "
        "--date-format (date_format=), e.g. %d/%m/%Y"
    )
    if pd.api.types.is_numeric_dtype(s) and not date_format:
        bad = s.notna().to_numpy()
        empty = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        return empty, bad, "hold numbers, not dates", fix
    code, uniques = pd.factorize(s, use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).map(_text)
    offsets = text.str.extract(_OFFSET, expand=False).fillna("none")
    if offsets.nunique() > 1:
        rows = np.bincount(code[code >= 0], minlength=len(uniques))  # rows per value
        usual = pd.Series(rows, index=offsets.to_numpy()).groupby(level=0).sum().idxmax()
        bad = np.append((offsets != usual).to_numpy(), False)[code]
        return (
            pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]"),
            bad,
            f"mix time zones (most rows: {usual})",
            "give every timestamp the same offset, or none",
        )
    parsed = pd.to_datetime(text, format=date_format or "ISO8601", errors="coerce")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    parsed = parsed.astype("datetime64[ns]")
    wrong = parsed.isna().to_numpy() & (text.str.strip() != "").to_numpy()  # "": no date
    values = np.append(parsed.to_numpy(), np.datetime64("NaT", "ns"))[code]
    out = pd.Series(values, index=s.index, dtype="datetime64[ns]")
    bad = np.append(wrong, False)[code]
    if not bad.any():
        return out, bad, "", ""
    years = text[wrong].str.extract(_YEAR, expand=False).dropna().astype(int)
    if len(years) and ((years < YEARS[0]) | (years > YEARS[1])).all():
        return (
            out,
            bad,
            f"hold dates outside {YEARS[0]}..{YEARS[1]}, the years pandas can hold",
            "correct them, or drop rows dated as placeholders (like 9999-12-31)",
        )
    what = f"format {date_format!r}" if date_format else "an ISO date (YYYY-MM-DD)"
    return out, bad, f"hold a value that is not {what}", fix


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)
