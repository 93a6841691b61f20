"""The forecaster's panel: the sales contract as Nixtla's long format.

Inside, series are ``unique_id`` (an integer code, in (sku_id, channel) order), ``ds`` (the
period start), ``y``; at the edges they are ``sku_id`` + ``channel``. Leading zeros before
a series' first sale are dropped (the product was not on sale yet); gaps are filled with
zeros up to the last period of the data; a series without any sale has no rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.stockouts import out_of_stock
from forecasting.demand.config import DemandConfig
from forecasting.periods import PANDAS_FREQ, fixed_period_days, period_start

KEYS = ["sku_id", "channel"]
#: Exogenous columns the panel carries when the sales have them.
EXOG = ("price_ratio", "promo")
#: The share of a period in stock, when the sales had out-of-stock periods (not a feature).
IN_STOCK = "in_stock"


def prepare_panel(
    sales: pd.DataFrame, config: DemandConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Sales contract -> (panel, keys, end).

    panel: ``unique_id`` (int), ``ds`` (period start), ``y``, ``sku`` and ``channel``
    (categories) and the exogenous ``price_ratio`` (`_price_ratio`) / ``promo`` when the
    sales have them;
    from each series' first sale to the last period of the data, gaps as zeros. keys:
    ``unique_id, sku_id, channel`` for every series, those without a sale included. end:
    the data's last period.
    """
    from utilsforecast.preprocessing import fill_gaps

    # IDs are hashed once (factorize); everything after works on integer arrays, taken in
    # one pass (the sales of M5's size are 59 M rows: no intermediate frame copies)
    sku_code, sku_names = pd.factorize(_lexical(sales["sku_id"]), sort=True)
    ch_code, ch_names = pd.factorize(_lexical(sales["channel"]), sort=True)
    pair = sku_code.astype(np.int64) * len(ch_names) + ch_code
    del sku_code, ch_code
    uid, pairs = pd.factorize(pair, sort=True)  # unique_id in (sku_id, channel) order
    del pair
    keys = pd.DataFrame(
        {
            "unique_id": np.arange(len(pairs)),
            "sku_id": np.asarray(sku_names, dtype=object)[pairs // len(ch_names)],
            "channel": np.asarray(ch_names, dtype=object)[pairs % len(ch_names)],
        }
    )
    cols: dict[str, np.ndarray] = {
        "unique_id": uid,
        "ds": period_start(sales["ds"], config.freq).to_numpy(dtype="datetime64[ns]"),
        "y": sales["y"].to_numpy(dtype="float64"),
    }
    has_price = "price" in sales.columns and sales["price"].notna().any()
    has_promo = "promo" in sales.columns and sales["promo"].notna().any()
    agg: dict[str, str] = {"y": "sum"}
    if has_price:
        cols["price"] = sales["price"].to_numpy(dtype="float64")
        agg["price"] = "mean"
    if has_promo:
        cols["promo"] = sales["promo"].astype("float64").to_numpy()
        agg["promo"] = "max"
    _in_stock(sales, cols, agg)
    order = _panel_order(cols["unique_id"], cols["ds"])
    if order is not None:
        for k in list(cols):  # one column at a time: one extra column in memory, not all
            cols[k] = cols[k][order]
        del order
    ids, ds = cols["unique_id"], cols["ds"]
    repeats = (ids[1:] == ids[:-1]) & (ds[1:] == ds[:-1])
    end = pd.Timestamp(ds.max())
    if repeats.any():  # finer grain than freq: sum into periods
        df = pd.DataFrame(cols).groupby(["unique_id", "ds"], sort=True).agg(agg).reset_index()
        cols = {k: df[k].to_numpy() for k in df.columns}
        del df
    # from each series' first sale (drops series without a sale too)
    sold = cols["y"] > 0
    day = cols["ds"].view("int64")
    first = np.full(len(pairs), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, cols["unique_id"][sold], day[sold])
    keep = day >= first[cols["unique_id"]]
    del sold, day
    if not keep.all():
        for k in list(cols):
            cols[k] = cols[k][keep]
    del keep
    df = pd.DataFrame(cols, copy=False)
    del cols
    if df.empty:
        return _empty_panel(), keys, end
    if not _complete(df, end, config):
        df = fill_gaps(
            df,
            freq=config.pandas_freq,
            start="per_serie",
            end=end,
            id_col="unique_id",
            time_col="ds",
        )
        df["y"] = df["y"].fillna(0.0)
        df = df.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    if has_price:
        _price_ratio(df)
    if has_promo:
        df["promo"] = df["promo"].fillna(0.0).astype("float32")
    if IN_STOCK in df.columns:
        df[IN_STOCK] = df[IN_STOCK].fillna(1.0).astype("float32")
    ids = df["unique_id"].to_numpy()
    df["sku"] = pd.Categorical.from_codes(
        (pairs // len(ch_names))[ids], categories=pd.Index(sku_names, dtype=object)
    )
    df["channel"] = pd.Categorical.from_codes(
        (pairs % len(ch_names))[ids], categories=pd.Index(ch_names, dtype=object)
    )
    return df, keys, end


def _in_stock(sales: pd.DataFrame, cols: dict[str, np.ndarray], agg: dict[str, str]) -> None:
    """Adds the share of each period in stock (LightGBM's target weight with
    ``stockout_targets="mask"``) when the sales have an out-of-stock period."""
    oos = out_of_stock(sales)
    if oos.any():
        cols[IN_STOCK] = (~oos).astype("float64")
        agg[IN_STOCK] = "mean"


def _price_ratio(df: pd.DataFrame) -> None:
    """Replace ``price`` by ``price_ratio``: the price relative to the series' mean price over
    its periods so far (an expanding mean; gaps take the last known price, the periods before
    the first known price take that one). No period's ratio reads a later period, so a
    backtest at any origin sees the values serving would have seen. In place: no copy of
    the panel."""
    price = df["price"].to_numpy(dtype="float64")
    if np.isnan(price).any():
        grouped = df.groupby("unique_id", sort=False)["price"]
        price = grouped.ffill().fillna(grouped.bfill()).to_numpy(dtype="float64")
        del grouped
    ids = df["unique_id"].to_numpy()
    known = ~np.isnan(price)
    # running sums restarted at each series' first row (the panel is sorted by series)
    starts = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(ids)]))
    csum = np.cumsum(np.where(known, price, 0.0))
    ccount = np.cumsum(known)
    before = first > 0
    sums = csum - np.where(before, csum[first - 1], 0.0)
    counts = ccount - np.where(before, ccount[first - 1], 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = price / (sums / counts)
    df["price_ratio"] = np.nan_to_num(ratio, nan=1.0, posinf=1.0).astype("float32")
    del df["price"]


def _lexical(ids: pd.Series) -> pd.Series:
    """Categorical IDs with their categories in text order (factorize sorts by category
    order), so that series get the same ``unique_id`` as from plain text IDs."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.set_categories(sorted(ids.cat.categories))
    return ids


def _panel_order(ids: np.ndarray, ds: np.ndarray) -> np.ndarray | None:
    """Row order that sorts by (series, period); None when already sorted. A table stored
    series by series in time order (in another order of series) is reordered by blocks."""
    if _strictly_increasing(ids, ds):
        return None
    n = len(ids)
    starts = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1]
    same = ids[1:] == ids[:-1]
    if len(np.unique(ids[starts])) == len(starts) and np.all(ds[1:][same] > ds[:-1][same]):
        perm = np.argsort(ids[starts], kind="stable")
        lengths = np.diff(np.r_[starts, n])[perm]
        offsets = np.cumsum(lengths) - lengths
        return np.repeat(starts[perm] - offsets, lengths) + np.arange(n)
    return np.lexsort((ds, ids))


def _strictly_increasing(ids: np.ndarray, ds: np.ndarray) -> bool:
    """Rows sorted by (series, period) without repeats."""
    if len(ids) < 2:
        return True
    return bool(np.all((ids[1:] > ids[:-1]) | ((ids[1:] == ids[:-1]) & (ds[1:] > ds[:-1]))))


def _complete(df: pd.DataFrame, end: pd.Timestamp, config: DemandConfig) -> bool:
    """Every series has one row per period from its first row to ``end`` (no gap to fill);
    only decided for fixed-length periods (days, weeks)."""
    period = fixed_period_days(config.freq)
    if period is None:
        return False
    g = df.groupby("unique_id", sort=False)["ds"]
    first, n = g.min(), g.size()
    expected = (pd.Timestamp(end) - first).dt.days.to_numpy() // period + 1
    return bool(np.array_equal(n.to_numpy(), expected))


def _empty_panel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": pd.Series(dtype="int64"),
            "ds": pd.Series(dtype="datetime64[ns]"),
            "y": pd.Series(dtype="float64"),
            "channel": pd.Categorical([]),
        }
    )


def exog_columns(panel: pd.DataFrame) -> list[str]:
    """The exogenous columns present in ``panel``."""
    return [c for c in EXOG if c in panel.columns]


def latest(panel: pd.DataFrame, periods: int, cfg: DemandConfig) -> pd.DataFrame:
    """The rows of the last ``periods`` periods of the data (every series ends at the data's
    last period)."""
    if panel.empty:
        return panel
    try:
        start = panel["ds"].max() - pd.tseries.frequencies.to_offset(cfg.pandas_freq) * periods
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        return panel  # more periods than the calendar holds: all of them
    return panel[panel["ds"] > start]


def future_frame(ids: np.ndarray, end: pd.Timestamp, freq: str, h: int) -> pd.DataFrame:
    """Every series x the next ``h`` periods after the data's last period ``end``."""
    dates = pd.date_range(end, periods=h + 1, freq=PANDAS_FREQ[freq])[1:]
    return pd.DataFrame({"unique_id": np.repeat(ids, h), "ds": np.tile(dates.to_numpy(), len(ids))})


def series_level(panel: pd.DataFrame) -> pd.Series:
    """Each series' mean demand per period, indexed by ``unique_id`` (group means of the
    integer codes by bincount)."""
    ids = panel["unique_id"].to_numpy()
    counts = np.bincount(ids)
    seen = np.flatnonzero(counts)
    sums = np.bincount(ids, panel["y"].to_numpy(dtype="float64"))
    return pd.Series(sums[seen] / counts[seen], index=seen)
