"""Replaying a predictor's decisions on held-out demand (what ``forecasting simulate`` runs)."""

from __future__ import annotations

import pandas as pd

from forecasting.data.contracts import INVENTORY, SALES, validate
from forecasting.errors import ForecastingError
from forecasting.periods import PANDAS_FREQ, period_days, period_start
from forecasting.policy.decide import OUTPUT_COLUMNS
from forecasting.policy.simulation import SimulationResult, simulate
from forecasting.predictor.estimator import ElasticSkuPredictor

#: Days of demand (held-out periods and, before them, history) that judge slow movers at the
#: end of a simulation: a trailing 13-week sales report.
TRAILING_DAYS = 91.0


def split_holdout(
    sales: pd.DataFrame, freq: str, periods: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """(history, held-out sales summed per period, first held-out period): the last
    ``periods`` periods of the data are held out."""
    start = period_start(sales["ds"], freq)
    grid = pd.date_range(start.min(), start.max(), freq=PANDAS_FREQ[freq])
    if periods < 1 or len(grid) <= periods:
        raise ForecastingError(
            f"cannot hold out {periods} periods of {len(grid)}: "
            "give a longer sales history or a shorter --holdout"
        )
    cut = grid[-periods]
    held = start >= cut
    future = sales.loc[held, ["sku_id", "channel", "y"]].assign(ds=start[held])
    summed = future.groupby(["sku_id", "channel", "ds"], as_index=False)[["y"]].sum()
    return sales.loc[~held].reset_index(drop=True), summed, cut


def simulate_predictor(
    predictor: ElasticSkuPredictor,
    sales: pd.DataFrame,
    inventory: pd.DataFrame | None = None,
    holdout: int | None = None,
    *,
    allow_in_sample: bool = False,
) -> tuple[SimulationResult, pd.DataFrame]:
    """Decide on the history, replay the last ``holdout`` periods (default: the horizon).

    The held-out periods must come after the predictor's last training day: a replay of
    days it learned from flatters it. ``allow_in_sample=True`` replays them anyway (the
    caller says so). The stock at the start is the latest ``inventory`` snapshot dated
    before the held-out periods (an undated snapshot is taken as that stock); no inventory:
    each policy starts at its own order-up-to levels. Returns (`SimulationResult`,
    decisions).
    """
    cfg = predictor.config
    sales = validate(sales, SALES, "<sales>")
    periods = holdout or cfg.demand.horizon
    history, future, cut = split_holdout(sales, cfg.demand.freq, periods)
    if in_sample(predictor, cut) and not allow_in_sample:
        end = pd.Timestamp(predictor.data_end_).date()
        raise ForecastingError(
            f"the first held-out period, {cut.date()}, is on or before {end}, the last day "
            "the model was trained on: replaying days it learned from would flatter it. Give "
            f"sales that run past {end} and a --holdout within those days, or "
            "--allow-in-sample to replay them anyway"
        )
    stock = None
    if inventory is not None:
        inv = validate(inventory, INVENTORY, "<inventory>")
        if "ds" in inv.columns and inv["ds"].notna().any():
            before = inv[inv["ds"].isna() | (inv["ds"] < cut)]
            if before.empty:
                raise ForecastingError(
                    f"inventory: every snapshot is dated on or after {cut.date()}, the first "
                    "held-out period; give the stock at the start of the held-out periods or a "
                    "shorter --holdout"
                )
            latest = before.groupby(["sku_id", "channel"])["ds"].transform("max")
            before = before[before["ds"].isna() | (before["ds"] == latest)]
            inv = before
        stock = inv[["sku_id", "channel", "on_hand"]]
    decisions, channel_plan = predictor.plan(history, stock)
    step = period_days(cfg.demand.freq)
    replay_days = periods * step
    prior_days = max(TRAILING_DAYS - replay_days, 0.0)
    tail = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=prior_days)]
    prior = tail.groupby("sku_id")["y"].sum() if prior_days > 0 else None
    result = simulate(
        decisions,
        channel_plan,
        future,
        stock,
        cfg.policy,
        period_days=step,
        prior_demand=prior,
        prior_days=prior_days,
    )
    result.first_held_out, result.in_sample = str(cut.date()), in_sample(predictor, cut)
    return result, decisions[OUTPUT_COLUMNS]


def in_sample(predictor: ElasticSkuPredictor, first_held_out: pd.Timestamp) -> bool:
    """Whether held-out periods from ``first_held_out`` on overlap the predictor's training
    data (False when the model does not record its training period)."""
    end = getattr(predictor, "data_end_", None)
    return end is not None and pd.Timestamp(first_held_out) <= pd.Timestamp(end)
