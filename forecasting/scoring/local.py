"""Batch scoring on this machine: parts of whole SKUs through the predictor, in this
process or in worker processes that each load the model once."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecasting.data.contracts import CALENDAR, FUTURE, INVENTORY, SALES
from forecasting.data.io import iter_sku_parts, read_table, table_format, write_table
from forecasting.data.layout import is_bucketed, iter_bucket_parts
from forecasting.errors import ForecastingError
from forecasting.policy.decide import with_stock
from forecasting.predictor import ElasticSkuPredictor
from forecasting.progress import stage
from forecasting.serving import load_predictor
from forecasting.tracking import configure

log = logging.getLogger(__name__)


def score_file(
    model_uri: str,
    sales_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    inventory_path: str | os.PathLike[str] | None = None,
    *,
    chunk_size: int = 2000,
    rows_per_part: int = 2_000_000,
    jobs: int = 1,
    tracking_uri: str | None = None,
    date_format: str | None = None,
    calendar_path: str | os.PathLike[str] | None = None,
    future_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Score a sales file with the predictor at ``model_uri`` and write the decisions (one
    row per SKU, sorted) to ``output_path``; the sales are streamed in parts of whole SKUs,
    so memory follows the part, not the file. A folder written by ``forecasting partition``
    (`forecasting.data.layout`) is read a bucket per part, without a pass to find them.
    Returns the decisions. ``date_format``: of the files' text dates (default ISO 8601).
    ``calendar_path``: a calendar replacing the predictor's own; ``future_path``: the plan
    of prices and promotions."""
    table_format(output_path)
    if chunk_size < 1 or rows_per_part < 1 or jobs < 1:
        raise ForecastingError("--chunk-size, --rows-per-part and --jobs must be >= 1")
    inventory = (
        read_table(inventory_path, INVENTORY, date_format=date_format) if inventory_path else None
    )
    known = Known(
        read_table(calendar_path, CALENDAR, date_format=date_format) if calendar_path else None,
        read_table(future_path, FUTURE, date_format=date_format) if future_path else None,
        str(calendar_path) if calendar_path else "<calendar>",
    )
    uri = configure(tracking_uri)
    if is_bucketed(sales_path):  # laid out by SKU (forecasting partition): a part per bucket
        parts = iter_bucket_parts(sales_path, categorical_ids=True, date_format=date_format)
    else:
        parts = iter_sku_parts(
            sales_path, SALES, rows_per_part=rows_per_part, categorical_ids=True,
            date_format=date_format,
        )  # fmt: skip
    scored = score_parts(
        model_uri, parts, inventory, chunk_size=chunk_size, jobs=jobs, tracking_uri=uri,
        known=known,
    )  # fmt: skip
    done, out = 0, []
    with stage("scoring", unit="SKU") as st:  # parts stream in: the total is not known
        for decisions in scored:
            out.append(decisions)
            done += len(decisions)
            st.advance(len(decisions))
            if st.bar is None:  # a batch job's log: a line per part
                log.info("scored %d SKUs", done)
    decisions = pd.concat(out, ignore_index=True).sort_values("sku_id", ignore_index=True)
    write_table(decisions, output_path)
    return decisions


def score_part(
    predictor: ElasticSkuPredictor,
    sales: pd.DataFrame,
    inventory: pd.DataFrame | None = None,
    chunk_size: int = 2000,
    future: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decisions for validated ``sales`` holding every row of their SKUs (a part from
    `iter_sku_parts`, a Spark group), ``chunk_size`` SKUs per `ElasticSkuPredictor.predict`
    call; stock from a validated ``inventory``, as `with_stock` puts it on the sales;
    ``future``: the plan of prices and promotions (validated)."""
    if inventory is not None:
        mine = inventory[inventory["sku_id"].isin(sales["sku_id"].unique())]
        sales = with_stock(sales, mine) if len(mine) else sales
    skus = pd.Index(sales["sku_id"].unique()).sort_values()
    parts = []
    for start in range(0, len(skus), chunk_size):
        chunk = skus[start : start + chunk_size]
        rows = sales if len(chunk) == len(skus) else sales[sales["sku_id"].isin(chunk)]
        plan = None if future is None else future[future["sku_id"].isin(chunk)]
        parts.append(
            predictor.predict(rows, future=plan if plan is not None and len(plan) else None)
        )
    return pd.concat(parts, ignore_index=True)


def score_parts(
    model_uri: str,
    parts: Iterable[pd.DataFrame],
    inventory: pd.DataFrame | None = None,
    *,
    chunk_size: int = 2000,
    jobs: int = 1,
    tracking_uri: str | None = None,
    known: Known | None = None,
) -> Iterator[pd.DataFrame]:
    """`score_part` over validated ``parts`` of whole SKUs (`iter_sku_parts`), in order.

    ``jobs`` > 1: that many worker processes, each loading the model at ``model_uri`` once;
    this process reads the next parts meanwhile, at most ``jobs`` ahead of the decisions
    given back, so memory holds a few parts whatever the input's size.
    """
    known = known or Known()
    rest = iter(parts)
    head = list(itertools.islice(rest, 2))
    parts = _popping(head, rest)
    if jobs <= 1 or len(head) < 2:  # one part: a worker would only add its start (~8 s)
        predictor = known.applied(load_predictor(model_uri))
        for part in parts:
            yield score_part(predictor, part, inventory, chunk_size, known.future)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    # spawn: no fork of a process with threads; and the workers start before this process
    # loads any model (loading puts the model's bundled code first on sys.path, which the
    # workers would inherit)
    context = multiprocessing.get_context("spawn")
    # each worker's share of the cores: its statsforecast and LightGBM would take them all
    threads = max(1, (os.cpu_count() or 1) // jobs)
    args = (model_uri, tracking_uri, inventory, chunk_size, os.getpid(), known, threads)
    pool = ProcessPoolExecutor(jobs, context, initializer=_worker_init, initargs=args)
    try:
        running: deque[Future[pd.DataFrame]] = deque()
        for part in parts:
            running.append(pool.submit(_worker_score, part))
            del part
            if len(running) > jobs:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()
    except BaseException:
        # interrupted (SIGINT, SIGTERM) or failed: stop the workers now rather than wait for
        # the parts they are scoring; nothing of theirs is kept
        pool.shutdown(wait=False, cancel_futures=True)
        for child in context.active_children():
            child.terminate()
        raise
    else:
        pool.shutdown(wait=True)


def _popping(head: list[pd.DataFrame], rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``head``'s parts, then ``rest``'s, holding no reference to a part given out."""
    while head:
        yield head.pop(0)
    yield from rest


@dataclass(frozen=True)
class Known:
    """What scoring knows in advance: a calendar replacing the predictor's own (named by
    ``source`` in errors) and the plan of prices and promotions."""

    calendar: pd.DataFrame | None = None
    future: pd.DataFrame | None = None
    source: str = "<calendar>"

    def applied(self, predictor: ElasticSkuPredictor) -> ElasticSkuPredictor:
        """``predictor`` with this calendar (itself without one)."""
        if self.calendar is None:
            return predictor
        return predictor.with_calendar(self.calendar, self.source)


_WORKER: dict[str, Any] = {}  # in a worker process of `score_parts`


def _worker_init(
    model_uri: str,
    tracking_uri: str | None,
    inventory: pd.DataFrame | None,
    chunk_size: int,
    parent: int,
    known: Known,
    threads: int,
) -> None:
    _exit_with_parent(parent)
    if tracking_uri:
        configure(tracking_uri)
    _WORKER.update(inventory=inventory, chunk_size=chunk_size, future=known.future)
    try:
        _WORKER["predictor"] = known.applied(load_predictor(model_uri)).with_jobs(threads)
    except ForecastingError as exc:  # given back with the first part: one clear error
        _WORKER["error"] = str(exc)


def _exit_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """End this worker when ``parent``, the process that started it, is gone (killed with
    ``kill -9``, say), also when that happened while this worker was still starting: a
    daemon thread compares the worker's parent PID with ``parent``. Without it a worker
    holding a model (hundreds of MB) waits forever on a pipe nobody writes to."""
    import threading
    import time

    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _worker_score(part: pd.DataFrame) -> pd.DataFrame:
    if "error" in _WORKER:
        raise ForecastingError(_WORKER["error"])
    return score_part(
        _WORKER["predictor"], part, _WORKER["inventory"], _WORKER["chunk_size"], _WORKER["future"]
    )
