"""What the commands share: the tracking-URI option, configs from arguments, the engine
options and the lines they print."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from forecasting.errors import ForecastingError

EXIT_USER_ERROR = 1


def uri_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the SQLite store "
        "mlflow/mlflow.db at the project root)",
    )
    date_format_argument(parent)
    return parent


def date_parent() -> argparse.ArgumentParser:
    """The options of commands that read files but do not track: ``--date-format``."""
    parent = argparse.ArgumentParser(add_help=False)
    date_format_argument(parent)
    return parent


def date_format_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--date-format",
        default=None,
        metavar="FMT",
        help="format of the dates in the input files, in strftime codes (e.g. %%d/%%m/%%Y); "
        "default ISO 8601 (YYYY-MM-DD[ HH:MM:SS]): dates are never guessed",
    )


def config_from_args(cls: Callable[..., Any], **values: Any) -> Any:
    """A frozen config from CLI values; its validation errors are user errors."""
    try:
        return cls(**values)
    except ValueError as exc:
        raise ForecastingError(str(exc)) from None


def run_line(run_id: str | None, model_name: str, version: str | None) -> str:
    registered = f", registered {model_name} version {version}" if version else ""
    return f"  MLflow run {run_id}{registered}"


def engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=["pandas", "spark"],
        default="pandas",
        help="pandas (this machine) or spark (extra [spark]; Parquet in and out)",
    )
    p.add_argument("--spark-master", default="local[*]", help="Spark master URL (default local[*])")


def policy_argument(p: argparse.ArgumentParser, base: str) -> None:
    p.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file (TOML): any PolicyConfig field at the top level and the network as "
        f"a [network] table of channel = stocking nodes; fields left out keep {base} "
        "(example: examples/policy.toml; docs/predictor.md)",
    )


def read_policy(path: str | None, base: Any) -> tuple[Any, str | None]:
    """(the policy of the file at ``path`` over ``base``, the file's text); (``base``, None)
    without a file."""
    from pathlib import Path

    from forecasting.policy.file import read_policy_file

    if path is None:
        return base, None
    policy = read_policy_file(path, base)
    return policy, Path(path).read_text(encoding="utf-8")


def known_arguments(p: argparse.ArgumentParser, *, replaces: bool = False) -> None:
    """``--calendar`` and ``--future``: what the forecast knows in advance."""
    kept = (
        "; replaces the calendar the model was trained with (it must have the same columns)"
        if replaces
        else "; the model keeps it for scoring"
    )
    p.add_argument(
        "--calendar",
        metavar="FILE",
        help="calendar (ds, optional channel, one column per feature known in advance: "
        f"events, paydays, ...), covering every forecast day{kept}",
    )
    p.add_argument(
        "--future",
        metavar="FILE",
        help="plan of the forecast days (sku_id, channel, ds, price and/or promo); "
        "without it the last price holds and there is no promotion",
    )


def read_known(args: argparse.Namespace) -> tuple[Any, Any]:
    """(calendar, future) tables of ``--calendar`` / ``--future`` (None when not given)."""
    from forecasting.data.contracts import CALENDAR, FUTURE
    from forecasting.data.io import read_table

    calendar = future = None
    if getattr(args, "calendar", None):
        calendar = read_table(args.calendar, CALENDAR, date_format=args.date_format)
    if getattr(args, "future", None):
        future = read_table(args.future, FUTURE, date_format=args.date_format)
    return calendar, future


@contextmanager
def named_sources(args: argparse.Namespace) -> Iterator[None]:
    """Errors about the ``<calendar>`` / ``<future>`` tables a model was given name the
    files they came from."""
    from forecasting.errors import DataContractError

    names = {
        "<calendar>": getattr(args, "calendar", None),
        "<future>": getattr(args, "future", None),
    }
    try:
        yield
    except DataContractError as exc:
        path = names.get(exc.source)
        if not path:
            raise
        raise DataContractError(
            str(path), exc.problem, exc.fix, column=exc.column, rows=exc.rows
        ) from None


def links_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--links",
        metavar="FILE",
        help="the output of link-customers: each channel's customer ID becomes the person's "
        "before repurchase features and rates",
    )


def read_links_file(args: argparse.Namespace) -> Any:
    """The ``--links`` table read with text IDs (None without the option)."""
    if not getattr(args, "links", None):
        return None
    from forecasting.data.contracts import LINKS
    from forecasting.data.io import read_table

    return read_table(args.links, LINKS)
