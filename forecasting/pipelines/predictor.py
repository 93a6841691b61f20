"""`build_predictor`: fit the elastic-SKU predictor, judge it against the champion on days
neither learned from, log and register it, and promote it through the gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import SALES, TRANSACTIONS, validate
from forecasting.demand.forecaster import DemandForecaster
from forecasting.demand.report import backtest_report, overall
from forecasting.periods import PANDAS_FREQ, period_start
from forecasting.pipelines.card import DECISIONS_PLOT, predictor_card
from forecasting.pipelines.common import linked, record_training_data
from forecasting.policy.file import policy_to_toml
from forecasting.policy.plots import decision_map
from forecasting.predictor import (
    ElasticSkuPredictor,
    Judgement,
    PredictorConfig,
    chosen_cost,
    feed_mismatch,
    gate_verdict,
    judge,
)
from forecasting.progress import stage
from forecasting.serving import load_predictor, log_predictor_model, sales_input_example

#: How often a build re-judges its version when other builds keep moving the alias.
MAX_REJUDGEMENTS = 5
log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    predictor: ElasticSkuPredictor
    decisions: pd.DataFrame
    figures: dict[str, float]
    verdict: str
    run_id: str | None = None
    model_version: str | None = None
    promoted: bool = False


@dataclass
class GateOutcome:
    """The gate's figures and verdict (`compare_with_champion`)."""

    verdict: str
    challenger: Judgement | None = None
    champion: Judgement | None = None
    period: str | None = None  # the held-out periods judged on, "first..last"
    champion_version: str | None = None  # the version the alias pointed at when judged

    def tags(self) -> dict[str, str]:
        out = {"gate_verdict": self.verdict}
        if self.period:
            out["gate_period"] = self.period
        for who, j in (("challenger", self.challenger), ("champion", self.champion)):
            if j is not None:
                out[f"gate_rmsse_{who}"] = f"{j.rmsse:.6g}"
                out[f"gate_cost_{who}"] = f"{j.cost:.6g}"
                out[f"gate_fill_rate_{who}"] = f"{j.fill_rate:.6g}"
        return out


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
    force: bool = False,
    policy_file: str | None = None,
    calendar: pd.DataFrame | None = None,
    future: pd.DataFrame | None = None,
    links: pd.DataFrame | None = None,
    links_source: str | None = None,
) -> BuildResult:
    """Fit, log and register the predictor; move ``alias`` to it only through the gate
    (`compare_with_champion`), or with ``force``. The version registered is fitted on all
    the data (``forecaster``: an already fitted demand forecaster for it); the gate's
    figures, periods and verdict are tags on it. The policy is logged with the run as a
    policy file (``policy.toml``, every field), and ``policy_file`` (the text of the file it
    came from, if any) as ``policy_file.toml``. ``calendar`` / ``future``: what the demand
    forecast knows in advance (the predictor keeps the calendar; the champion is judged
    with it when it was trained with the same columns). ``links``: customers mapped to
    people first (`forecasting.pipelines.common.linked`)."""
    name = name or tracking.PREDICTOR_MODEL
    alias = alias or tracking.SERVING_ALIAS
    cfg = config or PredictorConfig()
    tx = validate(transactions, TRANSACTIONS, "<transactions>")
    tx, merged = linked(tx, links, links_source or "<links>")
    if sales is None:
        sales = transactions_to_sales(tx, cfg.demand.freq)
    sales = validate(sales, SALES, "<sales>")
    if forecaster is not None:
        cfg = replace(cfg, demand=forecaster.config)

    def judged() -> tuple[GateOutcome, str]:
        gate = compare_with_champion(
            tx, sales, skus, cfg, name, alias, tolerance, tracking_uri, calendar
        )
        forced = force and not gate.verdict.startswith("pass")
        return gate, f"forced: {gate.verdict}" if forced else gate.verdict

    # the run spans the whole work (its duration in the UI is the job's)
    with tracking.start_run("predictor", "build-predictor", tracking_uri=tracking_uri) as run:
        with stage("gate: a challenger fitted before the held-out periods, both judged"):
            gate, verdict = judged()
        with stage("predictor: fit on all the data"):
            predictor = ElasticSkuPredictor(cfg).fit(
                tx, sales, skus, forecaster=forecaster, calendar=calendar, future=future
            )
        with stage("decisions"):
            decisions = predictor.predict(sales, inventory, future=future)
        summary = backtest_report(predictor.demand_, sales)[1]
        final = overall(summary)
        figures = {
            "backtest_rmsse": float(final["rmsse"]) if final is not None else float("nan"),
            "expected_cost_total": chosen_cost(decisions),  # costs do not depend on stock
            "share_tiered": float((decisions["stocking"] == "tiered").mean()),
            "share_slow_movers": float(decisions["slow_mover"].mean()),
            # what only looked slow, and the demand the shelves lost (issue #17)
            "share_seasonal_hold": float(decisions["hold_reason"].str.contains("seasonal").mean()),
            "share_new_launch": float(decisions["hold_reason"].str.contains("new_launch").mean()),
            "mean_stockout_share": float(decisions["stockout_share"].mean()),
            "lost_sales_units": float(decisions["lost_sales_units"].sum()),
            **merged,
        }
        result = BuildResult(predictor, decisions, figures, verdict)
        _log_inputs(cfg, policy_file, decisions)
        example = sales_input_example(sales, periods=60)
        info = log_predictor_model(predictor, example, name)
        version = str(info.registered_model_version)
        result.model_version = version
        data = record_training_data(predictor, sales, name, version, tracking_uri)
        tracking.log_figure(decision_map(decisions), DECISIONS_PLOT)
        result.run_id = run.info.run_id
        # compare-and-set: the alias moves only if it still points where the gate looked;
        # if another build moved it meanwhile, this version is judged again against it
        uri = tracking.configure(tracking_uri)
        for _ in range(MAX_REJUDGEMENTS):
            with tracking.store_lock(uri, "alias"):
                if tracking.alias_version(name, alias, uri) == gate.champion_version:
                    if verdict.startswith(("pass", "forced")):
                        tracking.set_alias(name, alias, version, uri)
                        result.promoted = True
                    break
            log.info("the %s alias moved during the build: judging again", alias)
            gate, verdict = judged()
        else:
            verdict = f"fail: the {alias} alias kept moving during the build; not promoted"
        for who, j in (("challenger", gate.challenger), ("champion", gate.champion)):
            if j is not None:
                figures[f"gate_rmsse_{who}"], figures[f"gate_cost_{who}"] = j.rmsse, j.cost
        result.verdict = verdict
        tracking.log_metrics(figures)
        tracking.set_tags({**gate.tags(), "gate_verdict": verdict})
        tags = {key: f"{value:.6g}" for key, value in figures.items()}
        tags.update({**gate.tags(), "validation": verdict})
        tracking.set_version_tags(name, version, tags, tracking_uri)
        card = predictor_card(name, version, data, summary, decisions, verdict)
        tracking.log_text(card, "model_card.md")
        # the version's page shows its description: the card without the run's plot
        text = "\n".join(x for x in card.splitlines() if not x.startswith("!["))
        tracking.describe_version(name, version, text, tracking_uri)
    return result


def _log_inputs(cfg: PredictorConfig, policy_file: str | None, decisions: pd.DataFrame) -> None:
    """The configs and the policy file as params and artifacts, the decisions as a table."""
    tracking.log_config(cfg.policy, "policy")
    tracking.log_text(policy_to_toml(cfg.policy), "policy.toml")
    if policy_file is not None:
        tracking.log_text(policy_file, "policy_file.toml")
    tracking.log_config(cfg.demand, "demand")
    tracking.log_table(decisions, "decisions.parquet")


def compare_with_champion(
    tx: pd.DataFrame,
    sales: pd.DataFrame,
    skus: pd.DataFrame | None,
    cfg: PredictorConfig,
    name: str,
    alias: str,
    tolerance: float,
    tracking_uri: str | None,
    calendar: pd.DataFrame | None = None,
) -> GateOutcome:
    """The gate on unseen outcomes. The last ``cfg.demand.horizon`` periods of ``sales``
    are held out, less any the champion was trained on; a challenger of the same config is
    fitted on the days before them; both are judged (`judge`) on the SKUs both know.
    No common SKU, or no held-out period the champion has not seen: not compared."""
    version = tracking.alias_version(name, alias, tracking_uri)
    if version is None:
        return GateOutcome(gate_verdict(None, None, None))
    champion = load_predictor(f"models:/{name}/{version}")  # the alias may move meanwhile
    freq = cfg.demand.freq
    starts = period_start(sales["ds"], freq)
    grid = pd.date_range(starts.min(), starts.max(), freq=PANDAS_FREQ[freq])
    held = grid[-cfg.demand.horizon :] if len(grid) > cfg.demand.horizon else grid[:0]
    seen = getattr(champion, "data_end_", None)
    if seen is not None:
        held = held[held > pd.Timestamp(seen)]
    known = set(champion.sku_facts_["sku_id"].astype(str))
    common = sorted(known & set(sales["sku_id"].astype(str)))
    why = None
    if not common:
        why = (
            f"the champion knows none of these {sales['sku_id'].nunique()} SKUs (a model of "
            "another world?); --force to promote anyway"
        )
    elif len(held) == 0:
        through = "all" if seen is None else str(pd.Timestamp(seen).date())
        why = (
            f"the champion was trained through {through}, which covers the held-out "
            "periods: nothing unseen to judge both on; give sales that run past that day, "
            "or --force"
        )
    why = why or feed_mismatch(champion, sales, common)
    if why is not None:
        return GateOutcome(
            gate_verdict(None, None, version, tolerance, why), None, None, None, version
        )
    cut = held[0]
    mine = sales[sales["sku_id"].astype(str).isin(common)]
    before = mine[starts[mine.index] < cut]
    challenger = ElasticSkuPredictor(cfg).fit(
        tx[tx["ts"] < cut], before, _only(skus, common), calendar=calendar
    )
    if calendar is not None and same_calendar(champion, challenger):
        champion = champion.with_calendar(calendar)
    a = judge(challenger, mine, len(held))
    b = judge(champion, mine, len(held))
    period = f"{cut.date()}..{held[-1].date()}"
    return GateOutcome(gate_verdict(a, b, version, tolerance), a, b, period, version)


def same_calendar(a: ElasticSkuPredictor, b: ElasticSkuPredictor) -> bool:
    """Both forecast with calendars of the same columns."""
    cal_a, cal_b = a.demand_.calendar_, b.demand_.calendar_
    return cal_a is not None and cal_b is not None and cal_a.features == cal_b.features


def _only(skus: Any, ids: list[str]) -> Any:
    return None if skus is None else skus[skus["sku_id"].astype(str).isin(ids)]
