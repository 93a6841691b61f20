"""`link_customers`: identity records of several channels linked into people, the run
tracked in MLflow (experiment ``forecasting-identity``)."""

from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.data.contracts import IDENTITIES, validate
from forecasting.errors import FallbackWarning, LinkageWarning
from forecasting.identity import CustomerLinker, LinkConfig, normalise
from forecasting.identity.metrics import cluster_counts, merged_customers, pairwise_scores
from forecasting.identity.plots import match_weights_plot, waterfall_plot


@dataclass
class LinkResult:
    links: pd.DataFrame  # record_id, channel, customer_id, person_id, match_probability
    linker: CustomerLinker
    metrics: dict[str, float] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    untrained_levels: list[str] = field(default_factory=list)
    run_id: str | None = None


def _db_api(engine: str, spark: Any) -> Any:
    if engine == "duckdb":
        return None  # CustomerLinker's own: DuckDB in memory
    from splink import SparkAPI

    return SparkAPI(spark_session=spark)


def link_customers(
    identities: pd.DataFrame,
    config: LinkConfig | None = None,
    *,
    engine: str = "duckdb",
    spark: Any = None,
    tracking_uri: str | None = None,
    source: str | None = None,
    date_format: str | None = None,
) -> LinkResult:
    """Validate, normalise and link ``identities`` (DESIGN.md's table) on ``engine``
    (``duckdb``, or ``spark`` with the session ``spark``), and log the run: the config,
    m and u per comparison level, the match-weight and waterfall charts, cluster sizes,
    customers merged and, when the table has ``true_person_id``, precision, recall and F1."""
    cfg = config or LinkConfig()
    src = source or "<identities>"
    table = validate(identities, IDENTITIES, src, date_format=date_format)
    known = {c.name for c in IDENTITIES.columns}
    ignored = [str(c) for c in table.columns if c not in known]
    if ignored:
        warnings.warn(
            f"{src}: columns {ignored} are not identity fields and are ignored",
            UserWarning,
            stacklevel=2,
        )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="forecasting-link-") as tmp:
        if engine == "spark" and spark.sparkContext.getCheckpointDir() is None:
            spark.sparkContext.setCheckpointDir(tmp)  # Splink cuts long plans with checkpoints
        db_api = _db_api(engine, spark)
        linker = CustomerLinker(cfg).fit(normalise(table.drop(columns=ignored)), db_api)
    seconds = time.perf_counter() - start
    links = linker.links_
    params = linker.parameters_
    untrained = [f"{r.comparison}: {r.level}" for r in params[params["m"].isna()].itertuples()]
    if untrained:
        warnings.warn(
            f"{len(untrained)} comparison levels were never seen in training and use "
            f"Splink's default m: {'; '.join(untrained[:3])}",
            FallbackWarning,
            stacklevel=2,
        )
    if linker.blocking_notes_:  # a rule that would compare too many pairs
        warnings.warn("; ".join(linker.blocking_notes_), FallbackWarning, stacklevel=2)
    if linker.training_skipped_:
        warnings.warn(
            "training steps left out: " + "; ".join(linker.training_skipped_),
            FallbackWarning,
            stacklevel=2,
        )
    metrics = {**cluster_counts(links["person_id"]), **merged_customers(links)}
    metrics["people_over_max_records"] = float(_warn_chained(links, cfg.max_person_records))
    if "true_person_id" in table and table["true_person_id"].notna().all():
        metrics.update(pairwise_scores(links["person_id"], table["true_person_id"]))
    metrics.update(
        {
            "seconds": round(seconds, 2),
            "untrained_levels": float(len(untrained)),
            "training_steps_skipped": float(len(linker.training_skipped_)),
            "blocking_rules_changed": float(len(linker.blocking_notes_)),
        }
    )
    result = LinkResult(links, linker, metrics, ignored, untrained)
    with tracking.start_run("identity", "link-customers", tracking_uri=tracking_uri) as run:
        tracking.log_config(cfg, "link")
        tracking.log_params(
            {
                "data.source": src,
                "data.n_records": len(table),
                "data.channels": ",".join(sorted(map(str, table["channel"].unique())))[:500],
                "engine": engine,
                "fields": ",".join(linker.fields_),
                "blocking": ", ".join("+".join(k) for k in linker.blocking_)[:500],
                "em_blocking": ", ".join("+".join(k) for k in linker.em_blocking_)[:500],
                "ignored_columns": ",".join(ignored),
            }
        )
        tracking.log_metrics(metrics)
        tracking.log_table(params, "model/parameters.parquet")
        tracking.log_dict(linker.model_, "model/splink_model.json")
        tracking.log_figure(match_weights_plot(params), "plots/match_weights.png")
        prior = linker.model_.get("probability_two_random_records_match")
        fig = waterfall_plot(linker.pairs_, _log2_odds(prior))
        if fig is not None:
            tracking.log_figure(fig, "plots/waterfall.png")
        result.run_id = run.info.run_id
    return result


def _warn_chained(links: pd.DataFrame, limit: int) -> int:
    """How many people join more than ``limit`` records; said in a `LinkageWarning`."""
    sizes = links["person_id"].value_counts()
    over = sizes[sizes > limit]
    if len(over):
        warnings.warn(
            f"{len(over):,} people join more than {limit} records each (the largest, "
            f"{over.index[0]}, joins {int(over.iloc[0]):,}): links chained through values "
            "several people share, such as a household e-mail or a shop's phone; check "
            "them, or raise --threshold",
            LinkageWarning,
            stacklevel=3,
        )
    return len(over)


def _log2_odds(p: float | None) -> float:
    import math

    if not p or p <= 0 or p >= 1:
        return 0.0
    return math.log2(p / (1 - p))
