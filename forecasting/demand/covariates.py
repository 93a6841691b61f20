"""What a forecast knows in advance, as LightGBM's features: the calendar (DESIGN.md's
calendar table: events, paydays, benefit days, per channel or for all) and the plan of
prices and promotions (the future table).

The calendar is brought to the forecaster's periods (a week's or month's numbers are their
mean, its text the first given), its columns become ``cal_<name>`` features (numbers as
float32, text as categories) and, when it has text columns (events), two more:
``cal_periods_to_event`` and ``cal_periods_since_event`` (capped at `MAX_DISTANCE`). Local
models do not use any of it.

The plan is read in the panel's terms: ``price_ratio`` is the planned price over the
series' mean price up to the end of the data (the same ratio the panel has for past
periods), ``promo`` the planned flag. Periods without a plan hold the last price and have
no promotion (`boosting.held_exog`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.data.calendar import check_covers
from forecasting.data.contracts import CALENDAR, FUTURE, validate
from forecasting.demand.config import DemandConfig
from forecasting.errors import DataContractError
from forecasting.periods import PANDAS_FREQ, period_start

PREFIX = "cal_"
TO_EVENT, SINCE_EVENT = f"{PREFIX}periods_to_event", f"{PREFIX}periods_since_event"
#: Periods beyond which the distance to an event is not told apart.
MAX_DISTANCE = 30


@dataclass(frozen=True)
class Calendar:
    """A calendar prepared for LightGBM: ``table`` has ``ds`` (period start), ``channel``
    (text, when ``per_channel``) and the ``features`` columns. A calendar per channel with
    rows for every channel keeps those rows alone in ``shared`` (``ds`` and the features):
    they are the calendar of the channels it names no row for."""

    table: pd.DataFrame
    features: tuple[str, ...]
    per_channel: bool
    source: str = "<calendar>"
    raw: pd.DataFrame | None = None  # the validated calendar it was made from (to save)
    shared: pd.DataFrame | None = None


def read_calendar(
    calendar: pd.DataFrame,
    cfg: DemandConfig,
    source: str = "<calendar>",
    like: pd.DataFrame | None = None,
) -> Calendar:
    """Validate a calendar table (the contract) and prepare it for ``cfg``'s periods;
    ``like``: the validated calendar a model was trained with, whose text columns stay
    text here even when every cell is empty (a month without events)."""
    raw = validate(calendar, CALENDAR, source)
    if like is not None:
        _typed_like(raw, like, source)
    per_channel = "channel" in raw.columns and bool(raw["channel"].notna().any())
    names = [c for c in raw.columns if c not in ("ds", "channel")]
    if not names:
        raise DataContractError(
            source,
            "has no feature column: only ds" + (" and channel" if per_channel else ""),
            "add the columns known in advance (events, paydays, ...), one per feature",
        )
    if not per_channel:
        table, features = _prepared(raw.drop(columns="channel", errors="ignore"), names, raw, cfg)
        return Calendar(table, features, False, source, raw)
    own, shared = raw[raw["channel"].notna()], raw[raw["channel"].isna()]
    # rows for every channel apply to each channel named (where it has no row of its own)
    # and, kept apart, to every channel not named
    table = pd.concat(
        [own, *(shared.assign(channel=c) for c in own["channel"].unique())], ignore_index=True
    ).drop_duplicates(["channel", "ds"], keep="first")
    table, features = _prepared(table, names, raw, cfg)
    table["channel"] = table["channel"].astype(str)
    common = None
    if len(shared):
        common = _prepared(shared.drop(columns="channel"), names, raw, cfg)[0]
    return Calendar(table, features, True, source, raw, common)


def _prepared(
    table: pd.DataFrame, names: list[str], raw: pd.DataFrame, cfg: DemandConfig
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The calendar rows ``table`` (``ds``, ``channel`` if it has one, the ``names``) on
    ``cfg``'s periods as features, and the feature names: a period's numbers are their mean,
    its text the first given; with text columns, the distances to and from events."""
    table = table.assign(ds=period_start(table["ds"], cfg.freq))
    by = ["channel", "ds"] if "channel" in table.columns else ["ds"]
    text = [c for c in names if isinstance(table[c].dtype, pd.CategoricalDtype)]
    numbers = [c for c in names if c not in text]
    events = table[text].notna().any(axis=1) if text else None
    if events is not None:
        table["_event"] = events.astype("float64")
    agg = {**dict.fromkeys(numbers, "mean"), **dict.fromkeys(text, "first")}
    if events is not None:
        agg["_event"] = "max"
    table = table.groupby(by, sort=True, observed=True).agg(agg).reset_index()
    for c in text:
        table[c] = table[c].astype(raw[c].dtype)
    for c in numbers:
        table[c] = table[c].astype("float32")
    features = [f"{PREFIX}{c}" for c in names]
    table = table.rename(columns={c: f"{PREFIX}{c}" for c in names})
    if events is not None:
        _event_distances(table, by, cfg)
        features += [TO_EVENT, SINCE_EVENT]
    return table[[*by, *features]].reset_index(drop=True), tuple(features)


def _typed_like(raw: pd.DataFrame, like: pd.DataFrame, source: str) -> None:
    """In place: the columns that are text in ``like`` as text in ``raw`` (empty ones
    too); a column of numbers in ``like`` that holds text in ``raw`` is refused."""
    for col in like.columns:
        if col not in raw.columns or col in ("ds", "channel"):
            continue
        text_before = isinstance(like[col].dtype, pd.CategoricalDtype)
        text_now = isinstance(raw[col].dtype, pd.CategoricalDtype)
        if text_before and not text_now:
            values = raw[col].astype(object).where(raw[col].notna())
            raw[col] = values.map(lambda v: v if v is None or pd.isna(v) else f"{v:g}").astype(
                "category"
            )
        elif text_now and not text_before:
            raise DataContractError(
                source,
                "holds text where the model's calendar held numbers",
                "give numbers in this column, as at training",
                column=str(col),
            )


def replacement_calendar(
    current: Calendar | None, given: pd.DataFrame, cfg: DemandConfig, source: str = "<calendar>"
) -> Calendar:
    """``given`` prepared to replace a model's ``current`` calendar: it must have the
    same columns (a model trained without a calendar takes none)."""
    new = read_calendar(given, cfg, source, like=None if current is None else current.raw)
    if current is None or set(new.features) != set(current.features):
        raise DataContractError(
            source,
            "does not have the columns the model was trained with: "
            f"{_names(current)} expected, {_names(new)} given",
            "give a calendar with the same columns as at training (or retrain with this one)",
        )
    return new


def _names(cal: Calendar | None) -> str:
    """The calendar's own column names (without the derived ones), or "no calendar"."""
    if cal is None or cal.raw is None:
        return "no calendar"
    return ", ".join(c for c in cal.raw.columns if c not in ("ds", "channel"))


def _event_distances(table: pd.DataFrame, by: list[str], cfg: DemandConfig) -> None:
    """Periods to the next and since the last period with an event (capped), per channel;
    in place. Periods are counted on the calendar's own periods (sorted by ``by``)."""
    days = (table["ds"] - pd.Timestamp("1970-01-05")).dt.days.to_numpy()  # a Monday
    months = (table["ds"].dt.year * 12 + table["ds"].dt.month).to_numpy()
    ordinal = {"D": days, "W": days // 7, "M": months}[cfg.freq].astype("float64")
    to = np.full(len(table), float(MAX_DISTANCE))
    since = np.full(len(table), float(MAX_DISTANCE))
    groups = (
        table.groupby("channel", sort=False).indices.values()
        if "channel" in by
        else [np.arange(len(table))]
    )
    event = table["_event"].to_numpy() > 0
    for rows in groups:  # one pass per channel (a handful), vectorised within
        pos, ev = ordinal[rows], event[rows]
        when = pos[ev]
        if len(when) == 0:
            continue
        nxt = np.searchsorted(when, pos, side="left")
        ahead = np.where(nxt < len(when), when[np.minimum(nxt, len(when) - 1)] - pos, np.inf)
        prev = np.searchsorted(when, pos, side="right") - 1
        behind = np.where(prev >= 0, pos - when[np.maximum(prev, 0)], np.inf)
        to[rows] = np.minimum(ahead, MAX_DISTANCE)
        since[rows] = np.minimum(behind, MAX_DISTANCE)
    table[TO_EVENT] = to.astype("float32")
    table[SINCE_EVENT] = since.astype("float32")
    del table["_event"]


def horizon_span(end: pd.Timestamp, cfg: DemandConfig, h: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last day of the ``h`` periods after the period starting at ``end``."""
    dates = pd.date_range(end, periods=h + 2, freq=PANDAS_FREQ[cfg.freq])
    return dates[1], dates[-1] - pd.Timedelta(days=1)


def check_calendar_covers(
    calendar: Calendar | None, end: pd.Timestamp, cfg: DemandConfig, h: int, keys: pd.DataFrame
) -> None:
    """One `DataContractError` naming the first day of the ``h`` periods after ``end``
    that the calendar lacks (for the channels of ``keys``); nothing without a calendar."""
    if calendar is None or calendar.raw is None:
        return
    first, last = horizon_span(end, cfg, h)
    channels = keys["channel"].unique().tolist()
    check_covers(calendar.raw, first, last, channels, calendar.source)


def with_calendar(frame: pd.DataFrame, calendar: Calendar | None) -> pd.DataFrame:
    """``frame`` (``ds`` and, for a calendar per channel, the panel's ``channel``
    category) with the calendar's features of each row's period, in the same row order;
    periods the calendar lacks get none (NaN)."""
    if calendar is None:
        return frame
    table = calendar.table
    if calendar.per_channel:
        cats = frame["channel"].cat.categories
        codes = pd.Categorical(table["channel"], categories=cats).codes
        table = table.drop(columns="channel").assign(_ch=codes)
        left = pd.DataFrame({"_ch": frame["channel"].cat.codes.to_numpy(), "ds": frame["ds"]})
        feats = left.merge(table, on=["_ch", "ds"], how="left")
        if calendar.shared is not None:  # the channels it names no row for: the common rows
            unnamed = ~np.isin(left["_ch"].to_numpy(), table["_ch"].unique())
            if unnamed.any():
                common = left.loc[unnamed, ["ds"]].merge(calendar.shared, on="ds", how="left")
                for c in calendar.features:
                    feats.loc[unnamed, c] = common[c].to_numpy()
    else:
        feats = frame[["ds"]].merge(table, on="ds", how="left")
    return frame.assign(**{c: feats[c].array for c in calendar.features})


def read_plan(
    future: pd.DataFrame,
    keys: pd.DataFrame,
    panel: pd.DataFrame,
    sales: pd.DataFrame,
    source: str = "<future>",
) -> pd.DataFrame:
    """The future table in panel terms: ``unique_id, ds`` and ``price_ratio`` / ``promo``
    (those the plan gives and the panel has). The planned price is divided by the series'
    mean price up to the end of the data (the last known price over the panel's last
    ``price_ratio``); rows of series the sales do not have are dropped."""
    plan = validate(future, FUTURE, source)
    if "price" not in plan.columns and "promo" not in plan.columns:
        raise DataContractError(
            source, "has neither price nor promo", "give the planned price and/or promo"
        )
    plan = plan.merge(keys, on=["sku_id", "channel"], how="inner")
    out = plan[["unique_id", "ds"]].copy()
    if "promo" in plan.columns and "promo" in panel.columns:
        out["promo"] = plan["promo"].astype("float32").to_numpy()
    if "price" in plan.columns and "price_ratio" in panel.columns and "price" in sales.columns:
        known = sales.dropna(subset=["price"]).sort_values("ds")
        last_price = known.groupby(["sku_id", "channel"], observed=True)["price"].last()
        last_price = keys.join(last_price, on=["sku_id", "channel"]).set_index("unique_id")["price"]
        last_ratio = panel.groupby("unique_id", sort=False)["price_ratio"].last()
        mean_price = (last_price / last_ratio.reindex(last_price.index)).reindex(
            plan["unique_id"].to_numpy()
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = plan["price"].to_numpy(dtype="float64") / mean_price.to_numpy()
        out["price_ratio"] = np.where(np.isfinite(ratio), ratio, np.nan).astype("float32")
    return out


def apply_plan(X: pd.DataFrame, plan: pd.DataFrame | None, exog: list[str]) -> pd.DataFrame:
    """``X`` (``unique_id, ds`` and the held ``exog``) with the plan's values where it has
    them (unknown ratios keep the held price)."""
    if plan is None or plan.empty:
        return X
    cols = [c for c in exog if c in plan.columns]
    if not cols:
        return X
    planned = X[["unique_id", "ds"]].merge(plan[["unique_id", "ds", *cols]], how="left")
    out = X.copy()
    for c in cols:
        values = planned[c].to_numpy()
        out[c] = np.where(np.isnan(values), out[c].to_numpy(), values).astype("float32")
    return out
