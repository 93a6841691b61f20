"""Slow movers: stock that will not sell through, with reason codes.

Per SKU (or SKU x channel), from the sales history, the stock on hand and the forecast:

* ``excess_cover``: weeks of cover (on hand / forecast weekly demand) above the threshold;
* ``no_recent_sale``: no sale for ``no_sale_days`` days while stock is held, or sooner
  when that is ``no_sale_intervals`` times its usual days between sales (at least
  ``no_sale_min_days``): a SKU that sold every other day and has not sold for three weeks;
* ``decayed_demand``: the probability of a sale in a period, smoothed as in TSB
  (``p <- p + alpha (1[y > 0] - p)``), has fallen below ``decay_ratio`` of its long-run
  level (the share of days with a sale from the first sale to 1/alpha days before the end)
  while stock is held.

Three things make a healthy SKU look slow; the rules see through them, and
``hold_reason`` says so:

* out-of-stock periods (``on_hand == 0`` in the sales) without a sale are left out
  (`forecasting.data.stockouts.observed`): days since the last sale, the usual interval
  and the demand probability count in-stock periods only;
* ``seasonal_hold``: off season (see `PolicyConfig`'s season settings), the SKU is judged
  against the demand of its coming season, as it sold a year ago: ``excess_cover`` when its
  stock exceeds ``max_weeks_of_cover`` of that, else no flag;
* ``new_launch``: a first sale at most ``launch_grace_weeks`` ago (and as long after the
  table's first date): no ``no_recent_sale`` or ``decayed_demand``, and cover against its
  expected mature rate.

Codes are joined with ``;`` in ``slow_mover_reason`` (empty for a healthy SKU).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.data.groups import DAY_NS, group_codes, per_period
from forecasting.data.stockouts import observed
from forecasting.periods import median_step_days
from forecasting.policy.config import PolicyConfig

REASONS = ("excess_cover", "no_recent_sale", "decayed_demand")
HOLD_REASONS = ("seasonal_hold", "new_launch")
#: The weeks before now (and before the same day a year ago) whose rate a season is
#: compared with.
LULL_WEEKS = 8
YEAR_DAYS = 364  # 52 weeks: the same weekdays a year ago


def demand_probability(sales: pd.DataFrame, by: Sequence[str], alpha: float) -> pd.DataFrame:
    """TSB's smoothed demand probability per group now, and the long-run share of periods
    with a sale since the group's first sale (one row per group, indexed by ``by``)."""
    days = _group_days(sales, list(by))
    return pd.DataFrame(_probability(days, alpha), index=days.index)


class _GroupDays:
    """The sales summed per group of ``by`` and date: ``group`` code, ``day`` (int64 ns)
    and ``y`` per (group, date), sorted by group then date; ``index`` the groups."""

    def __init__(self, group: np.ndarray, day: np.ndarray, y: np.ndarray, index: pd.Index):
        self.group, self.day, self.y, self.index = group, day, y, index


def _group_days(sales: pd.DataFrame, keys: list[str]) -> _GroupDays:
    # a sparse table counts its missing periods as zeros; out-of-stock ones without a sale
    # are left out
    sales = observed(sales)
    group, names = group_codes(sales, keys)
    day = sales["ds"].to_numpy(dtype="datetime64[ns]").view("int64")
    g, d, (y,) = per_period(group, len(names), day, [sales["y"].to_numpy(dtype="float64")])
    index = pd.MultiIndex.from_frame(names) if len(keys) > 1 else pd.Index(names[keys[0]])
    return _GroupDays(g, d, y, index)


def _probability(days: _GroupDays, alpha: float) -> dict[str, np.ndarray]:
    """TSB's probability recursion ``p <- p + alpha (1[y > 0] - p)`` from each group's first
    date (statsforecast's TSB gives forecasts, not this path), in closed form as a weighted
    sum: the last value of pandas' ``ewm(alpha, adjust=False)``, for every group in one
    vectorised pass instead of a groupby."""
    g, n = days.group, len(days.index)
    occurred = (days.y > 0).astype("float64")
    size = np.bincount(g, minlength=n)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    behind = (size[g] - 1) - (np.arange(len(g)) - start[g])  # dates after this one
    weight = alpha * (1.0 - alpha) ** behind
    first = np.arange(len(g)) == start[g]
    weight[first] = (1.0 - alpha) ** behind[first]
    now = np.bincount(g, weight * occurred, n)
    # the long-run level is measured before the last 1/alpha periods, the smoother's memory
    first_sale = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_sale, g[occurred > 0], days.day[occurred > 0])
    old = days.day <= days.day.max() - int(1 / alpha) * 86_400 * 10**9
    active = (days.day >= first_sale[g]) & old
    with np.errstate(invalid="ignore", divide="ignore"):
        longrun = np.bincount(g[active], occurred[active], n) / np.bincount(g[active], minlength=n)
    return {"demand_prob_now": now, "demand_prob_longrun": longrun}


def flag_slow_movers(
    sales: pd.DataFrame,
    stock: pd.DataFrame | None,
    weekly_forecast: pd.Series,
    config: PolicyConfig,
    by: Sequence[str] = ("sku_id",),
    category: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per group with ``weeks_of_cover``, ``days_since_last_sale`` (in-stock days),
    the demand probability now and in the long run, ``slow_mover``, ``slow_mover_reason``
    and ``hold_reason``.

    ``stock`` has the ``by`` columns and ``on_hand`` (None: no stock data, no flags that
    need stock); ``weekly_forecast`` is indexed like the groups; ``category`` (by
    ``sku_id``, optional) gives a launch its peers.
    """
    keys = list(by)
    days = _group_days(sales, keys)
    out = pd.DataFrame(_probability(days, config.decay_alpha), index=days.index)
    step = median_step_days(sales["ds"])
    since, limit, first = _recency(days, config, step)
    out["days_since_last_sale"] = since
    out["forecast_weekly"] = weekly_forecast.reindex(out.index).fillna(0.0)
    if stock is not None and len(stock):
        on_hand = stock.groupby(keys, observed=True)["on_hand"].sum().reindex(out.index)
    else:
        on_hand = pd.Series(np.nan, index=out.index)
    out["on_hand"] = on_hand
    out["weeks_of_cover"] = _cover(on_hand, out["forecast_weekly"])
    end = int(days.day.max()) if len(days.day) else 0
    listed = _listed_since(sales, keys, out.index)
    season_weekly = _season_weekly(days, config, end, listed)
    # a launch: first sale within the grace, and the data shows as long before it (a table
    # of the last few weeks cannot tell a launch from an old SKU)
    grace = config.launch_grace_weeks * 7 * DAY_NS
    begin = int(days.day.min()) if len(days.day) else 0
    launch = (grace > 0) & (first >= end - grace) & (first >= begin + grace) & (first > _NEVER)
    mature = np.fmax(
        out["forecast_weekly"].to_numpy(),
        _peer_weekly(out["forecast_weekly"], launch, category, keys),
    )
    seasonal = ~np.isnan(season_weekly) & ~launch
    against = np.where(seasonal, season_weekly, np.where(launch, mature, out["forecast_weekly"]))
    holding = (on_hand > 0).to_numpy()
    excess = holding & (_cover(on_hand, against) > config.max_weeks_of_cover)
    normal = ~seasonal & ~launch  # the rules of a SKU in its usual life
    flags = {
        "excess_cover": excess,
        "no_recent_sale": normal & holding & (np.isnan(since) | (since > limit)),
        "decayed_demand": normal
        & holding
        & (out["demand_prob_now"] < config.decay_ratio * out["demand_prob_longrun"]).to_numpy(),
    }
    out["slow_mover_reason"] = _joined(flags, REASONS)
    out["slow_mover"] = out["slow_mover_reason"] != ""
    holds = {
        "seasonal_hold": seasonal & holding & ~excess,
        "new_launch": launch & ~excess,
    }
    out["hold_reason"] = _joined(holds, HOLD_REASONS)
    out["season_weekly"] = season_weekly
    return out.reset_index()


_NEVER = np.iinfo(np.int64).min


def _joined(flags: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    codes = np.full(len(next(iter(flags.values()))), "", dtype=object)
    for name in names:
        codes = np.where(flags[name], np.where(codes == "", name, codes + ";" + name), codes)
    return codes


def _cover(on_hand: pd.Series, weekly: pd.Series | np.ndarray) -> np.ndarray:
    """Weeks of cover: on hand / weekly demand (inf with stock and no demand, NaN without
    stock data)."""
    weekly = np.asarray(weekly, dtype="float64")
    stock = on_hand.to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(weekly > 0, stock / weekly, np.where(stock > 0, np.inf, 0.0))
    return np.where(np.isnan(stock), np.nan, cover)


def _recency(
    days: _GroupDays, config: PolicyConfig, step: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: in-stock days since the last sale (NaN: never sold), the no-sale limit in
    days (`no_sale_intervals` usual intervals between sales, clipped), and the first sale
    (int64 ns; the minimum int64 when never sold). Periods are counted, not dates, so that
    out-of-stock periods (left out of ``days``) do not count as days without a sale."""
    n = len(days.index)
    g = days.group
    sold = days.y > 0
    last = np.full(n, _NEVER, dtype=np.int64)
    np.maximum.at(last, g[sold], days.day[sold])
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, g[sold], days.day[sold])
    n_sale = np.bincount(g[sold], minlength=n)
    after = np.bincount(g[days.day > last[g]], minlength=n)
    between = np.bincount(g[(days.day >= first[g]) & (days.day <= last[g])], minlength=n)
    since = np.where(n_sale > 0, after * step, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        interval = np.where(n_sale > 1, (between - 1) * step / (n_sale - 1), np.nan)
    limit = np.clip(
        config.no_sale_intervals * interval, config.no_sale_min_days, config.no_sale_days
    )
    limit = np.where(np.isnan(limit), config.no_sale_days, limit)
    return since, limit, np.where(n_sale > 0, first, _NEVER)


def _listed_since(sales: pd.DataFrame, keys: list[str], index: pd.Index) -> np.ndarray:
    """Per group (``index``), the first date with evidence that it was on sale: a sale, a
    price or stock on hand (int64 ns; the maximum int64 without any). Rows of zeros
    without a price or stock say nothing: M5 pads items with them before their launch."""
    evidence = sales["y"].to_numpy(dtype="float64") > 0
    if "price" in sales.columns:
        evidence |= sales["price"].notna().to_numpy()
    if "on_hand" in sales.columns:
        evidence |= sales["on_hand"].to_numpy(dtype="float64", na_value=np.nan) > 0
    rows = sales.loc[evidence, [*keys, "ds"]].astype({k: object for k in keys})
    first = rows.groupby(keys)["ds"].min()
    found = first.reindex(index).to_numpy(dtype="datetime64[ns]").view("int64")
    return np.where(found == np.iinfo(np.int64).min, np.iinfo(np.int64).max, found)


def _season_weekly(
    days: _GroupDays, config: PolicyConfig, end: int, listed: np.ndarray
) -> np.ndarray:
    """Per group, the weekly demand of its coming season (its sales in the coming
    ``season_lookahead_weeks`` a year ago, per week) when it is off season, else NaN.
    Off season: on sale (`_listed_since`) since a year and `LULL_WEEKS` ago, at least
    ``season_min_sale_periods`` periods with a sale in those weeks a year ago, and their
    rate ``season_ratio`` times (or more) the rate of the last `LULL_WEEKS` weeks, of the
    same weeks a year ago and of the rest of the year since those weeks. (Listed then, not
    only sold then: a summer good's first sale may be last summer; a launch that sold for a
    few months and stopped was not listed.)"""
    n = len(days.index)
    g, day, y = days.group, days.day, days.y
    ahead_days = config.season_lookahead_weeks * 7
    year_ago = end - YEAR_DAYS * DAY_NS
    lull = LULL_WEEKS * 7 * DAY_NS

    def window(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        inside = (day > lo) & (day <= hi)
        return np.bincount(g[inside], y[inside], n), np.bincount(g[inside & (y > 0)], minlength=n)

    ahead, ahead_sales = window(year_ago, year_ago + ahead_days * DAY_NS)
    now = window(end - lull, end)[0]
    then = window(year_ago - lull, year_ago)[0]
    rest_days = YEAR_DAYS - ahead_days  # the year since those weeks, up to now
    rest = window(year_ago + ahead_days * DAY_NS, end)[0] if rest_days > 0 else now * 0
    rate_ahead = ahead / ahead_days
    # a lull of 8 weeks happens by chance to a good that sells every few weeks: its rate
    # over the rest of the year says it was no season
    rate_lull = np.maximum(np.maximum(now, then) / (LULL_WEEKS * 7), rest / max(rest_days, 1))
    off_season = (
        bool(np.isfinite(config.season_ratio))  # inf: the season rule is off
        & (listed <= year_ago - lull)
        & (ahead_sales >= config.season_min_sale_periods)
        & (rate_ahead >= min(config.season_ratio, 1e300) * rate_lull)
    )
    return np.where(off_season, rate_ahead * 7, np.nan)


def _peer_weekly(
    weekly: pd.Series, launch: np.ndarray, category: pd.Series | None, keys: list[str]
) -> np.ndarray:
    """Per group, the median weekly forecast of the established groups of its category (0
    without a category)."""
    if category is None or category.empty:
        return np.zeros(len(weekly))
    sku = weekly.index.get_level_values("sku_id") if len(keys) > 1 else weekly.index
    cat = category.reindex(sku).to_numpy(dtype=object)
    frame = pd.DataFrame({"cat": cat, "weekly": weekly.to_numpy()})
    peers = frame[~launch & (frame["weekly"] > 0)].groupby("cat")["weekly"].median()
    return frame["cat"].map(peers).fillna(0.0).to_numpy(dtype="float64")
