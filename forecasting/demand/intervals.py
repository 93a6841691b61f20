"""Quantiles of the chosen forecast from its own backtest residuals.

Hand-written rather than statsforecast / mlforecast conformal intervals: those belong to one
model, while our forecast is a per-class selection or ensemble, so the residuals must be
those of the combined forecast. Series with at least ``min_residuals`` residuals get their
own empirical quantiles; the others get their class's quantiles of residuals divided by the
series' mean demand, multiplied back by it at predict time; non-negative, non-crossing.
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
