"""Quantiles of the chosen forecast from its own backtest residuals.

Hand-written rather than statsforecast / mlforecast conformal intervals: those belong to one
model, while our forecast is a per-class selection or ensemble, so the residuals must be
those of the combined forecast. Series with at least ``min_residuals`` residuals get their
own empirical quantiles; the others get their class's quantiles of residuals divided by the
series' mean demand, multiplied back by it at predict time; non-negative, non-crossing.

Offsets learned on a few windows are too narrow on the next one (on M5, an 80% band
covered 73% of held-out days). `interval_scales` widens each level's band per demand class
by the factor that makes the held-out coverage of the backtest (each window's band learned
on the other windows) equal the level: a split-conformal calibration of the band's width.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.demand.config import DemandConfig
from forecasting.demand.panel import KEYS


def quantile_columns(cfg: DemandConfig) -> list[str]:
    """``forecast-lo-80``, ``forecast-median``, ``forecast-hi-80`` for the default levels."""
    return [f"forecast-{n}" for n in cfg.quantiles]


def empty_offsets(cfg: DemandConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(series offsets, class offsets) without any backtest."""
    names = list(cfg.quantiles)
    return (
        pd.DataFrame(columns=[*KEYS, *names]),
        pd.DataFrame(columns=["demand_class", *names]),
    )


def quantile_offsets(
    cv: pd.DataFrame, scales: pd.DataFrame, keys: pd.DataFrame, cfg: DemandConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per series, per class relative) quantile offsets, added to the point forecast,
    from the residuals of the backtest's ``forecast`` column (pooled by each row's
    ``demand_class``)."""
    resid = pd.DataFrame({"unique_id": cv["unique_id"], "e": cv["y"] - cv["forecast"]})
    names = list(cfg.quantiles)
    counts = resid.groupby("unique_id").size()
    own_ids = counts.index[counts >= cfg.min_residuals]
    mine = resid[resid["unique_id"].isin(own_ids)]
    own = _group_quantiles(mine["e"], mine["unique_id"], cfg.quantiles)
    own = own.merge(keys, left_index=True, right_on="unique_id")[[*KEYS, *names]]
    level = scales["level"].reindex(resid["unique_id"]).to_numpy()
    pooled = _group_quantiles(
        resid["e"] / level, cv["demand_class"].rename("demand_class"), cfg.quantiles
    ).reset_index()
    return own.reset_index(drop=True), pooled


def _group_quantiles(
    values: pd.Series, groups: pd.Series, quantiles: dict[str, float]
) -> pd.DataFrame:
    grouped = values.groupby(groups.to_numpy())
    out = pd.DataFrame({name: grouped.quantile(q) for name, q in quantiles.items()})
    out.index.name = groups.name
    return out


def apply_offsets(
    out: pd.DataFrame,
    level: pd.Series,
    series_offsets: pd.DataFrame,
    class_offsets: pd.DataFrame,
    cfg: DemandConfig,
) -> pd.DataFrame:
    """Add ``forecast-{lo,hi}-L`` and ``forecast-median`` to rows with ``unique_id, sku_id,
    channel, demand_class, forecast``: the series' own offsets, else its class's relative
    offsets times the series' mean demand ``level``, else a Poisson band; non-negative and
    non-crossing."""
    out = out.drop(columns=[c for c in out.columns if c.startswith(("own_", "pool_"))])
    out = out.assign(level=out["unique_id"].map(level).to_numpy())
    names = list(cfg.quantiles)
    out = out.merge(
        series_offsets.rename(columns={n: f"own_{n}" for n in names}), on=KEYS, how="left"
    )
    out = out.merge(
        class_offsets.rename(columns={n: f"pool_{n}" for n in names}), on="demand_class", how="left"
    )
    for name, q in cfg.quantiles.items():
        offset = (
            out[f"own_{name}"]
            .astype("float64")
            .fillna(out[f"pool_{name}"].astype("float64") * out["level"])
        )
        if offset.isna().any():  # no backtest at all: a Poisson band around the forecast
            from scipy.stats import poisson

            fallback = poisson.ppf(q, out["forecast"].clip(lower=1e-9)) - out["forecast"]
            offset = offset.fillna(pd.Series(fallback, index=out.index))
        out[f"forecast-{name}"] = (out["forecast"] + offset).clip(lower=0.0)
    qcols = quantile_columns(cfg)
    out[qcols] = np.sort(out[qcols].to_numpy(), axis=1)  # no crossing quantiles
    return out.drop(columns=[c for c in out.columns if c.startswith(("own_", "pool_"))] + ["level"])


def held_out_quantiles(
    cv: pd.DataFrame, scales: pd.DataFrame, keys: pd.DataFrame, cfg: DemandConfig
) -> pd.DataFrame:
    """Quantiles on each backtest window from offsets learned on the other windows, so the
    backtest's pinball loss and coverage are out of sample (in-sample with one window)."""
    cv = cv.merge(keys, on="unique_id", how="left")
    cutoffs = cv["cutoff"].unique()
    parts = []
    for cutoff in cutoffs:
        rows = cv["cutoff"] == cutoff
        learn = cv[~rows] if len(cutoffs) > 1 else cv
        own, pooled = quantile_offsets(learn, scales, keys, cfg)
        parts.append(apply_offsets(cv[rows], scales["level"], own, pooled, cfg))
    return pd.concat(parts, ignore_index=True)


#: The widening factors `interval_scales` chooses among (1.0: unchanged).
SCALE_GRID = np.round(np.arange(0.5, 4.001, 0.025), 3)
UNCHANGED = int(np.flatnonzero(SCALE_GRID == 1.0)[0])
SCALE_COLUMNS = ("demand_class", "level", "scale", "coverage_before", "coverage_after")


def interval_scales(held_out: pd.DataFrame, cfg: DemandConfig) -> pd.DataFrame:
    """``demand_class, level, scale, coverage_before, coverage_after``: per class and level,
    the smallest factor of `SCALE_GRID` whose band (the held-out ``forecast`` plus the
    factor times each side's offset, non-negative) covers at least the level's share of
    held-out ``y``. With one window the band is in-sample and the factor stays 1."""
    rows: list[dict[str, object]] = []
    if held_out.empty:
        return pd.DataFrame(rows, columns=list(SCALE_COLUMNS))
    multi = held_out["cutoff"].nunique() > 1
    for cls, part in held_out.groupby("demand_class", sort=True):
        y = part["y"].to_numpy(dtype="float64")
        f = part["forecast"].to_numpy(dtype="float64")
        for lv in cfg.levels:
            lo = part[f"forecast-lo-{lv:g}"].to_numpy(dtype="float64") - f
            hi = part[f"forecast-hi-{lv:g}"].to_numpy(dtype="float64") - f
            covered = _coverage(y, f, lo, hi)
            best = _smallest_reaching(covered, lv / 100) if multi else UNCHANGED
            rows.append(
                {
                    "demand_class": cls,
                    "level": lv,
                    "scale": float(SCALE_GRID[best]),
                    "coverage_before": float(covered[UNCHANGED]),
                    "coverage_after": float(covered[best]),
                }
            )
    return pd.DataFrame(rows, columns=list(SCALE_COLUMNS))


def _smallest_reaching(covered: np.ndarray, level: float) -> int:
    """The first factor whose held-out coverage reaches ``level`` (split-conformal: a band
    covers at least what it says, not merely close to it), else the widest."""
    reach = np.flatnonzero(covered >= level)
    return int(reach[0]) if len(reach) else int(np.argmax(covered))


def _coverage(y: np.ndarray, f: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per factor of `SCALE_GRID`, the share of ``y`` inside the band ``f + factor * (lo,
    hi)`` (non-negative).

    Where ``lo <= 0 <= hi`` (nearly every row) the band only grows with the factor, so a row
    is covered from its own smallest factor on and the coverage curve is one sorted search
    over those; the other rows are scored a few factors at a time (the whole grid at once is
    141 copies of a class's rows, 5 GiB at M5's size)."""
    nested = (lo <= 0) & (hi >= 0)
    covered = np.zeros(len(SCALE_GRID))
    if nested.any():
        yn, fn, lon, hin = y[nested], f[nested], lo[nested], hi[nested]
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.where((yn <= 0) | (yn <= fn), 0.0, np.where(hin > 0, (yn - fn) / hin, np.inf))
            down = np.where(yn >= fn, 0.0, np.where(lon < 0, (fn - yn) / -lon, np.inf))
        need = np.where(yn < 0, np.inf, np.maximum(up, down))
        # a row is inside the band at a factor as computed there, not as divided back
        covered += np.searchsorted(np.sort(need), SCALE_GRID * (1 + 1e-12), side="right")
    rest = np.flatnonzero(~nested)
    for i in range(0, len(SCALE_GRID), 8):
        grid = SCALE_GRID[i : i + 8, None]
        low = np.maximum(f[rest] + grid * lo[rest], 0.0)
        high = np.maximum(f[rest] + grid * hi[rest], 0.0)
        inside = (y[rest] >= np.minimum(low, high)) & (y[rest] <= np.maximum(low, high))
        covered[i : i + 8] += inside.sum(axis=1)
    return covered / max(len(y), 1)


def widen(
    offsets: pd.DataFrame, classes: pd.Series, scales: pd.DataFrame, cfg: DemandConfig
) -> pd.DataFrame:
    """``offsets`` (one row per series or per class) with each level's lower and upper
    offsets times its class's factor (``classes``: each row's class)."""
    out = offsets.copy()
    if scales.empty or out.empty:
        return out
    for lv in cfg.levels:
        factor = (
            scales[scales["level"] == lv]
            .set_index("demand_class")["scale"]
            .reindex(classes.to_numpy())
            .fillna(1.0)
            .to_numpy()
        )
        for side in ("lo", "hi"):
            col = f"{side}-{lv:g}"
            out[col] = out[col].astype("float64") * factor
    return out
