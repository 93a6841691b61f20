"""`ElasticSkuPredictor`: demand forecasts + repurchase rates + the stocking cost model,
one decision per SKU (DESIGN.md's predictor output)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS, validate
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.errors import ForecastingError
from forecasting.policy.config import PolicyConfig
from forecasting.policy.decide import OUTPUT_COLUMNS, plan
from forecasting.propensity.repurchase import sku_repurchase_rates


@dataclass(frozen=True)
class PredictorConfig:
    """The predictor's parts: demand, policy and the repurchase window."""

    demand: DemandConfig = field(default_factory=DemandConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    repurchase_days: int = 60
    cost_share_of_price: float = 0.6  # unit cost from prices when the SKU table has none
    # candidates too slow to refit at every scoring call: the demand selection is redone
    # without them on the same backtest (AutoETS fits ~100 series/s; the rest ~10^4/s)
    scoring_exclude: tuple[str, ...] = ("AutoETS",)
    # LightGBM's part of the decision from the direct horizon model (one prediction of each
    # series' mean over the horizon) rather than the mean of `horizon` recursive steps
    direct_horizon: bool = True


class ElasticSkuPredictor:
    """``fit(transactions, sales=None, skus=None)``; ``predict(sales, inventory=None)``."""

    def __init__(self, config: PredictorConfig | None = None) -> None:
        self.config = config or PredictorConfig()

    def fit(
        self,
        transactions: pd.DataFrame,
        sales: pd.DataFrame | None = None,
        skus: pd.DataFrame | None = None,
        forecaster: DemandForecaster | None = None,
    ) -> ElasticSkuPredictor:
        """Fit on the history; ``forecaster``: an already fitted demand forecaster to reuse."""
        cfg = self.config
        tx = validate(transactions, TRANSACTIONS, "<transactions>")
        if sales is None:
            sales = transactions_to_sales(tx, cfg.demand.freq, validated=True)
        else:
            sales = validate(sales, SALES, "<sales>")
        demand = forecaster if forecaster is not None else DemandForecaster(cfg.demand).fit(sales)
        used = {m for models in demand.selection_.values() for m in models}
        if used & set(cfg.scoring_exclude):
            demand = demand.without(cfg.scoring_exclude)
        elif demand is forecaster:
            demand = copy.copy(demand)  # the caller's forecaster is not changed
        demand.lgb_horizon_, demand.horizon_h_ = None, None
        if cfg.direct_horizon:
            demand.fit_horizon_model(sales)
        self.demand_ = demand
        rates = sku_repurchase_rates(tx, tx["ts"].max(), cfg.repurchase_days)
        facts = rates[["sku_id", "predicted_rate"]].rename(
            columns={"predicted_rate": "repurchase_rate"}
        )
        price = _unit_price(tx, sales)
        facts = facts.merge(price.rename("unit_price").reset_index(), on="sku_id", how="outer")
        if skus is not None and "unit_cost" in skus.columns:
            table = validate(skus, SKUS, "<skus>")[["sku_id", "unit_cost"]]
            facts = facts.merge(table, on="sku_id", how="left")
        else:
            facts["unit_cost"] = np.nan
        facts["unit_cost"] = facts["unit_cost"].fillna(
            facts["unit_price"] * cfg.cost_share_of_price
        )
        self.sku_facts_ = facts[["sku_id", "unit_cost", "repurchase_rate"]]
        return self

    def predict(
        self,
        sales: pd.DataFrame,
        inventory: pd.DataFrame | None = None,
        horizon: int | None = None,
        *,
        check_input: bool = True,
    ) -> pd.DataFrame:
        """One row per SKU of ``sales`` (DESIGN.md's columns plus tier units).

        ``check_input=False`` skips validating ``sales`` and ``inventory`` against their
        contracts: for callers that validated them already (`score_parts`)."""
        return self.plan(sales, inventory, horizon, check_input=check_input)[0][OUTPUT_COLUMNS]

    def plan(
        self,
        sales: pd.DataFrame,
        inventory: pd.DataFrame | None = None,
        horizon: int | None = None,
        *,
        check_input: bool = True,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(decisions with the replay columns, per-channel unified order-up-to units): what
        `forecasting.policy.simulation` replays."""
        if not hasattr(self, "demand_"):
            raise ForecastingError("call fit() (or ElasticSkuPredictor.load) before predict()")
        inv = inventory
        if check_input:
            sales = validate(sales, SALES, "<sales>")
            inv = validate(inventory, INVENTORY, "<inventory>") if inventory is not None else None
        forecast = self.demand_.predict_horizon(sales, horizon=horizon)
        level = max(self.config.demand.levels)
        return plan(forecast, sales, inv, self.sku_facts_, self.config.policy, level=level)

    def save(self, folder: str | Path) -> Path:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.demand_.save(out / "demand")
        self.sku_facts_.to_parquet(out / "sku_facts.parquet", index=False)
        state = {
            "policy": asdict(self.config.policy),
            "repurchase_days": self.config.repurchase_days,
            "cost_share_of_price": self.config.cost_share_of_price,
            "scoring_exclude": list(self.config.scoring_exclude),
            "direct_horizon": self.config.direct_horizon,
        }
        (out / "predictor.json").write_text(json.dumps(state, indent=2))
        return out

    @classmethod
    def load(cls, folder: str | Path) -> ElasticSkuPredictor:
        src = Path(folder)
        state = json.loads((src / "predictor.json").read_text())
        policy = state["policy"]
        demand = DemandForecaster.load(src / "demand")
        cfg = PredictorConfig(
            demand=demand.config,
            policy=PolicyConfig.from_dict(policy),
            repurchase_days=state["repurchase_days"],
            cost_share_of_price=state["cost_share_of_price"],
            scoring_exclude=tuple(state.get("scoring_exclude", ())),
            direct_horizon=bool(state.get("direct_horizon", False)),
        )
        self = cls(cfg)
        self.demand_ = demand
        self.sku_facts_ = pd.read_parquet(src / "sku_facts.parquet")
        return self


def _unit_price(tx: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Mean unit price per SKU from transaction amounts, else from sales prices."""
    if "amount" in tx.columns and tx["amount"].notna().any():
        g = tx.groupby("sku_id")
        return g["amount"].sum() / g["quantity"].sum()
    if "price" in sales.columns:
        return sales.groupby("sku_id")["price"].mean()
    return pd.Series(dtype="float64", name="unit_price")


__all__: list[Any] = ["ElasticSkuPredictor", "PredictorConfig"]


@dataclass
class BuildResult:
    predictor: ElasticSkuPredictor
    decisions: pd.DataFrame
    figures: dict[str, float]
    verdict: str
    run_id: str | None = None
    model_version: str | None = None
    promoted: bool = False


def chosen_cost(decisions: pd.DataFrame) -> float:
    """Total expected cost of the chosen option over all SKUs."""
    return float(
        np.minimum(decisions["expected_cost_unified"], decisions["expected_cost_tiered"]).sum()
    )


def build_predictor(
    transactions: pd.DataFrame,
    sales: pd.DataFrame | None = None,
    inventory: pd.DataFrame | None = None,
    skus: pd.DataFrame | None = None,
    config: PredictorConfig | None = None,
    *,
    tracking_uri: str | None = None,
    name: str | None = None,
    alias: str | None = None,
    tolerance: float = 0.0,
    forecaster: DemandForecaster | None = None,
) -> BuildResult:
    """Fit, log and register the predictor; move ``alias`` to it only through the gate.

    The gate: no champion yet, or on the same sales the new version's total expected cost
    and its demand backtest RMSSE are no worse (within ``tolerance``) than the champion's.
    The figures and the verdict are tagged on the new version.
    """
    import mlflow

    from forecasting import tracking
    from forecasting.data.synthetic import sales_example
    from forecasting.demand.pipeline import backtest_report
    from forecasting.tracking.models import log_predictor_model

    name = name or tracking.PREDICTOR_MODEL
    alias = alias or tracking.SERVING_ALIAS
    cfg = config or PredictorConfig()
    tx = validate(transactions, TRANSACTIONS, "<transactions>")
    if sales is None:
        sales = transactions_to_sales(tx, cfg.demand.freq, validated=True)
    sales = validate(sales, SALES, "<sales>")
    if forecaster is not None:
        cfg = replace(cfg, demand=forecaster.config)
    predictor = ElasticSkuPredictor(cfg).fit(tx, sales, skus, forecaster=forecaster)
    decisions = predictor.predict(sales, inventory)
    _, summary = backtest_report(predictor.demand_, sales)
    final = summary[(summary["model"] == "forecast") & (summary["demand_class"] == "all")]
    figures = {
        "backtest_rmsse": float(final["rmsse"].iloc[0]) if len(final) else float("nan"),
        "expected_cost_total": chosen_cost(decisions),  # costs do not depend on stock
        "share_tiered": float((decisions["stocking"] == "tiered").mean()),
        "share_slow_movers": float(decisions["slow_mover"].mean()),
    }
    champion = tracking.alias_version(name, alias, tracking_uri)
    verdict = "pass: no champion yet"
    if champion is not None:
        old = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
        old_cost = chosen_cost(old.predict(sales))
        old_rmsse = float(
            mlflow.MlflowClient()
            .get_model_version(name, champion)
            .tags.get("backtest_rmsse", "inf")
        )
        worse = []
        if figures["expected_cost_total"] > old_cost * (1 + tolerance):
            worse.append(f"cost {figures['expected_cost_total']:.0f} > {old_cost:.0f}")
        if figures["backtest_rmsse"] > old_rmsse * (1 + tolerance):
            worse.append(f"RMSSE {figures['backtest_rmsse']:.3f} > {old_rmsse:.3f}")
        verdict = (f"fail vs v{champion}: " + "; ".join(worse)) if worse else f"pass vs v{champion}"
    result = BuildResult(predictor, decisions, figures, verdict)
    with tracking.start_run("predictor", "build-predictor", tracking_uri=tracking_uri) as run:
        tracking.log_config(cfg.policy, "policy")
        tracking.log_config(cfg.demand, "demand")
        mlflow.log_metrics(figures)
        tracking.log_table(decisions, "decisions.parquet")
        info = log_predictor_model(predictor, sales_example(cfg.demand.freq, 60), name)
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        for key, value in figures.items():
            client.set_model_version_tag(name, version, key, f"{value:.6g}")
        client.set_model_version_tag(name, version, "validation", verdict)
        result.model_version = version
        result.run_id = run.info.run_id
        if verdict.startswith("pass"):
            tracking.set_alias(name, alias, version, tracking_uri)
            result.promoted = True
    return result


#: Days of demand (held-out periods and, before them, history) that judge slow movers at the
#: end of a simulation: a trailing 13-week sales report.
TRAILING_DAYS = 91.0


def split_holdout(
    sales: pd.DataFrame, freq: str, periods: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """(history, held-out sales summed per period, first held-out period): the last
    ``periods`` periods of the data are held out."""
    from forecasting.data.aggregate import PANDAS_FREQ, period_start

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
) -> tuple[Any, pd.DataFrame]:
    """Decide on the history, replay the last ``holdout`` periods (default: the horizon).

    The stock at the start is the latest ``inventory`` snapshot dated before the held-out
    periods (an undated snapshot is taken as that stock); no inventory: each policy starts
    at its own order-up-to levels. Returns (`SimulationResult`, decisions).
    """
    from forecasting.policy.simulation import simulate

    cfg = predictor.config
    sales = validate(sales, SALES, "<sales>")
    periods = holdout or cfg.demand.horizon
    history, future, cut = split_holdout(sales, cfg.demand.freq, periods)
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
    step = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}[cfg.demand.freq]
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
    return result, decisions[OUTPUT_COLUMNS]


def run_simulation(
    model: str | ElasticSkuPredictor,
    sales: pd.DataFrame,
    inventory: pd.DataFrame | None = None,
    holdout: int | None = None,
    *,
    tracking_uri: str | None = None,
    run_name: str = "simulate",
) -> tuple[Any, str]:
    """`simulate_predictor` for a predictor or a model URI, logged to the simulation
    experiment (config, metrics per policy, per-SKU table, plots). Returns (result, run id)."""
    import mlflow

    from forecasting import tracking
    from forecasting.policy.plots import simulation_figures

    tracking.configure(tracking_uri)
    if isinstance(model, str):
        predictor = load_predictor(model)
        source = model
    else:
        predictor, source = model, "in memory"
    result, decisions = simulate_predictor(predictor, sales, inventory, holdout)
    with tracking.start_run("simulation", run_name, tracking_uri=tracking_uri) as run:
        mlflow.set_tag("model", source)
        tracking.log_config(predictor.config.policy, "policy")
        mlflow.log_params(
            {
                "holdout_periods": holdout or predictor.config.demand.horizon,
                "freq": predictor.config.demand.freq,
            }
        )
        for row in result.summary.to_dict("records"):
            policy = row.pop("policy")
            mlflow.log_metrics({f"{policy}_{k}": float(v) for k, v in row.items()})
        mlflow.log_metrics(result.improvement())
        tracking.log_table(result.summary, "simulation_summary.parquet")
        tracking.log_table(result.per_sku, "simulation_per_sku.parquet")
        tracking.log_table(decisions, "decisions.parquet")
        for name, fig in simulation_figures(result).items():
            tracking.log_figure(fig, name)
    return result, run.info.run_id


def score_part(
    predictor: ElasticSkuPredictor,
    sales: pd.DataFrame,
    inventory: pd.DataFrame | None = None,
    chunk_size: int = 2000,
) -> pd.DataFrame:
    """Decisions for validated ``sales`` holding every row of their SKUs (a part from
    `iter_sku_parts`, a Spark group), ``chunk_size`` SKUs per `ElasticSkuPredictor.predict`
    call; stock from a validated ``inventory``, as `with_stock` puts it on the sales."""
    from forecasting.policy.decide import with_stock

    if inventory is not None:
        mine = inventory[inventory["sku_id"].isin(sales["sku_id"].unique())]
        sales = with_stock(sales, mine) if len(mine) else sales
    skus = pd.Index(sales["sku_id"].unique()).sort_values()
    parts = []
    for start in range(0, len(skus), chunk_size):
        chunk = skus[start : start + chunk_size]
        rows = sales if len(chunk) == len(skus) else sales[sales["sku_id"].isin(chunk)]
        parts.append(predictor.predict(rows, check_input=False))
    return pd.concat(parts, ignore_index=True)


def score_parts(
    model_uri: str,
    parts: Iterable[pd.DataFrame],
    inventory: pd.DataFrame | None = None,
    *,
    chunk_size: int = 2000,
    jobs: int = 1,
    tracking_uri: str | None = None,
) -> Iterator[pd.DataFrame]:
    """`score_part` over validated ``parts`` of whole SKUs (`iter_sku_parts`), in order.

    ``jobs`` > 1: that many worker processes, each loading the model at ``model_uri`` once;
    this process reads the next parts meanwhile, at most ``jobs`` ahead of the decisions
    given back, so memory holds a few parts whatever the input's size.
    """
    if jobs <= 1:
        predictor = load_predictor(model_uri)
        for part in parts:
            yield score_part(predictor, part, inventory, chunk_size)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    # spawn: no fork of a process with threads; and the workers start before this process
    # loads any model (loading puts the model's bundled code first on sys.path, which the
    # workers would inherit)
    context = multiprocessing.get_context("spawn")
    args = (model_uri, tracking_uri, inventory, chunk_size)
    with ProcessPoolExecutor(jobs, context, initializer=_worker_init, initargs=args) as pool:
        running: deque[Future[pd.DataFrame]] = deque()
        for part in parts:
            running.append(pool.submit(_worker_score, part))
            del part
            if len(running) > jobs:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()


_WORKER: dict[str, Any] = {}  # in a worker process of `score_parts`


def _worker_init(
    model_uri: str, tracking_uri: str | None, inventory: pd.DataFrame | None, chunk_size: int
) -> None:
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    _WORKER.update(inventory=inventory, chunk_size=chunk_size)
    try:
        _WORKER["predictor"] = load_predictor(model_uri)
    except ForecastingError as exc:  # given back with the first part: one clear error
        _WORKER["error"] = str(exc)


def _worker_score(part: pd.DataFrame) -> pd.DataFrame:
    if "error" in _WORKER:
        raise ForecastingError(_WORKER["error"])
    return score_part(_WORKER["predictor"], part, _WORKER["inventory"], _WORKER["chunk_size"])


def load_predictor(uri: str) -> ElasticSkuPredictor:
    """The `ElasticSkuPredictor` inside a logged ``elastic-sku-predictor`` pyfunc."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise ForecastingError(f"cannot load {uri}: {str(exc).splitlines()[0]}") from None
    inner = model.unwrap_python_model()
    predictor = getattr(inner, "predictor", None)
    if not isinstance(predictor, ElasticSkuPredictor):
        raise ForecastingError(f"{uri} is not an elastic-sku-predictor model")
    return predictor
