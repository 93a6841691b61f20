"""The ``forecasting`` command line: a thin face over the pipelines, one module per command.

User errors (a broken data contract, a missing file) print one line on stderr and exit 1,
without a traceback and without writing any output.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from forecasting import __version__
from forecasting.cli import (
    build_predictor,
    data,
    demo,
    link_customers,
    score,
    simulate,
    train_demand,
    train_propensity,
    ui,
)
from forecasting.cli.common import EXIT_USER_ERROR, uri_parent
from forecasting.errors import ForecastingError
from forecasting.progress import set_quiet

COMMANDS = (
    demo,
    train_demand,
    train_propensity,
    build_predictor,
    score,
    simulate,
    data,
    link_customers,
    ui,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forecasting",
        description="Elastic-SKU omnichannel retail: demand forecasts, repurchase propensity and "
        "a unified-vs-tiered stocking predictor, tracked in MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"forecasting {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = [uri_parent()]
    for command in COMMANDS:
        command.register(sub, parents)
    return parser


def _system_arrow_memory() -> None:
    """Arrow buffers from the system allocator: Arrow's default (mimalloc) keeps the pages
    of a freed table, so after reading 59 M rows into pandas the process held the table
    twice (measured: 3.1 GiB instead of 1.8)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def _one_line(command: str) -> Callable[..., str]:
    """Warnings as one line each, like the errors: what happened and what was assumed."""

    def format_warning(message: Warning | str, category: type[Warning], *_: object) -> str:
        return f"forecasting {command}: warning ({category.__name__}): {message}\n"

    return format_warning


def _check_paths(args: argparse.Namespace) -> None:
    """Every output writable and none an input, before any work, run or registration."""
    from forecasting.files import check_outputs

    def flag(dest: str) -> str:
        return dest if dest == "path" else "--" + dest.replace("_", "-")

    check_outputs(
        {flag(d): getattr(args, d, None) for d in getattr(args, "outputs", ())},
        {flag(d): getattr(args, d, None) for d in getattr(args, "inputs", ())},
        folders=tuple(flag(d) for d in getattr(args, "folders", ())),
        either=getattr(args, "engine", None) == "spark",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in ("mlflow", "alembic", "urllib3", "matplotlib", "py4j"):
        logging.getLogger(name).setLevel(logging.WARNING)
    _system_arrow_memory()
    set_quiet(args.quiet)  # progress bars on a terminal, unless --quiet
    before, warnings.formatwarning = warnings.formatwarning, _one_line(args.command)
    previous_term = _terminate_as_interrupt()
    env_set: list[str] = []
    try:
        _check_paths(args)
        if hasattr(args, "tracking_uri"):  # a command that tracks: the store first
            env_set = _http_defaults()
            from forecasting.tracking import check_reachable

            check_reachable(args.tracking_uri)
        return int(args.handler(args))
    except ForecastingError as exc:
        print(f"forecasting {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("forecasting: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from forecasting.tracking import environment_error

        message = environment_error(exc)
        if message is None:
            raise
        print(f"forecasting {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        warnings.formatwarning = before
        for key in env_set:  # main() called in a notebook or a test leaves no trace
            os.environ.pop(key, None)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def _terminate_as_interrupt() -> Any:
    """SIGTERM (a scheduler stopping the job, ``kill``) unwinds like Ctrl-C: temporary files
    removed, worker processes stopped, the run marked failed. Returns the previous handler
    (None where signals cannot be set: not the main thread)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def _http_defaults() -> list[str]:
    """Short HTTP time-outs and few retries towards a tracking server, unless the user set
    them: MLflow's defaults (120 s, 7 retries with back-off) hold a job for many minutes on
    a server that accepts connections and never answers. Returns the variables it set."""
    wanted = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}
    added = [key for key in wanted if key not in os.environ]
    for key in added:
        os.environ[key] = wanted[key]
    return added


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
