"""The promotion gate: may a new predictor replace the champion?

Both are judged on what happened in days neither learned from: the last periods of the
sales the challenger is built on are held out, the challenger is fitted on the days before
them, and each model decides and forecasts from that same history. The judgement is the
forecast error per series (RMSSE over the held-out periods, mean over series) and the
simulated cost of each one's decisions there (the replay of ``forecasting simulate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.demand.metrics import naive_scales, series_metrics
from forecasting.periods import period_start
from forecasting.predictor.estimator import RECENT, ElasticSkuPredictor, recent_daily_units
from forecasting.predictor.replay import simulate_predictor, split_holdout


def chosen_cost(decisions: pd.DataFrame) -> float:
    """Total expected cost of the chosen option over all SKUs."""
    return float(
        np.minimum(decisions["expected_cost_unified"], decisions["expected_cost_tiered"]).sum()
    )


@dataclass(frozen=True)
class Judgement:
    """A predictor's figures on held-out periods."""

    rmsse: float  # mean over series of the RMSSE of its per-period forecasts
    cost: float  # total simulated cost of its decisions (holding, lost margin, ...)
    fill_rate: float
    n_series: int


def judge(predictor: ElasticSkuPredictor, sales: pd.DataFrame, periods: int) -> Judgement:
    """Hold out the last ``periods`` periods of ``sales``; the predictor forecasts and
    decides from the history before them and is scored on what happened."""
    freq = predictor.config.demand.freq
    history, future, _ = split_holdout(sales, freq, periods)
    fc = predictor.demand_.predict(history, horizon=periods)
    keys = ["sku_id", "channel", "ds"]
    df = future.merge(fc[[*keys, "forecast"]], on=keys, how="left")
    df["forecast"] = df["forecast"].fillna(0.0)
    df["unique_id"] = df["sku_id"].astype(str) + "|" + df["channel"].astype(str)
    per = history.assign(ds=period_start(history["ds"], freq))
    per = per.groupby(keys, as_index=False, observed=True)[["y"]].sum()
    per["unique_id"] = per["sku_id"].astype(str) + "|" + per["channel"].astype(str)
    metrics = series_metrics(df, None, ["forecast"], scales=naive_scales(per))
    rmsse = metrics["rmsse"].dropna()
    result, _ = simulate_predictor(predictor, sales, None, holdout=periods)
    row = result.summary.set_index("policy").loc["predictor"]
    return Judgement(
        float(rmsse.mean()), float(row["total_cost"]), float(row["fill_rate"]), len(rmsse)
    )


#: A new feed whose units on the champion's last training days are outside this band of
#: what the champion learned from is not a feed to judge models on (units in another unit
#: of measure, a channel missing, a broken upstream).
FEED_BAND = (0.8, 1.25)


def feed_mismatch(
    champion: ElasticSkuPredictor, sales: pd.DataFrame, skus: list[str]
) -> str | None:
    """Why the sales do not agree with what the champion was trained on (None: they do,
    or cannot be checked): the units the sales give ``skus`` over the champion's last
    training days against the units the champion remembers for them (`RECENT`)."""
    end = getattr(champion, "data_end_", None)
    facts = champion.sku_facts_
    if end is None or RECENT not in facts.columns:
        return None
    if sales["ds"].min() > pd.Timestamp(end) - pd.Timedelta(days=7):
        return None  # the feed does not reach back into the champion's days
    known = facts.set_index(facts["sku_id"].astype(str))[RECENT].reindex(skus).fillna(0.0)
    given = recent_daily_units(sales, end).reindex(skus).fillna(0.0)
    if known.sum() <= 0:
        return None
    ratio = float(given.sum() / known.sum())
    if FEED_BAND[0] <= ratio <= FEED_BAND[1]:
        return None
    return (
        f"the sales give {ratio:.2f}x the units the champion was trained on for the same "
        f"SKUs and days (up to {pd.Timestamp(end).date()}): a broken or changed upstream feed? "
        "Fix the feed, or --force"
    )


def gate_verdict(
    challenger: Judgement | None,
    champion: Judgement | None,
    champion_version: str | None,
    tolerance: float = 0.0,
    why_not_compared: str | None = None,
) -> str:
    """``pass: ...`` or ``fail vs vN: ...``. No champion: pass. A champion that could not be
    compared (``why_not_compared``): fail, saying why. Otherwise the challenger passes when
    neither its RMSSE nor its simulated cost is worse than the champion's by more than
    ``tolerance`` (a share)."""
    if champion_version is None:
        return "pass: no champion yet"
    if why_not_compared is not None or challenger is None or champion is None:
        return f"fail vs v{champion_version}: not compared: {why_not_compared or 'no figures'}"
    worse = []
    if challenger.rmsse > champion.rmsse * (1 + tolerance):
        worse.append(f"RMSSE {challenger.rmsse:.3f} > {champion.rmsse:.3f}")
    if challenger.cost > champion.cost * (1 + tolerance):
        worse.append(f"simulated cost {challenger.cost:,.0f} > {champion.cost:,.0f}")
    said = (
        f"RMSSE {challenger.rmsse:.3f} vs {champion.rmsse:.3f}, "
        f"simulated cost {challenger.cost:,.0f} vs {champion.cost:,.0f}"
    )
    if worse:
        return f"fail vs v{champion_version}: " + "; ".join(worse)
    return f"pass vs v{champion_version}: {said}"
