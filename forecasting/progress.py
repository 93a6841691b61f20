"""Progress of long work: a bar on stderr for a person watching (a terminal, or a notebook),
and one log line per stage with its time (what a batch job's log keeps).

``--quiet`` (or ``FORECASTING_PROGRESS=0``) turns the bars off; the lines are INFO logs of
the ``forecasting`` logger, which the command line shows unless ``--quiet``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("forecasting")

_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """No bars from here on (the command line's ``--quiet``)."""
    _state["quiet"] = quiet


def bars_on() -> bool:
    """A person is watching: stderr is a terminal, or this runs in a Jupyter kernel."""
    if _state["quiet"] or os.environ.get("FORECASTING_PROGRESS", "").strip() == "0":
        return False
    if _in_a_kernel():
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _in_a_kernel() -> bool:
    """Running in a Jupyter kernel (not merely with ipykernel imported, as by nbclient)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _bar_class() -> Any:
    """tqdm's widget bar in a Jupyter kernel that has ipywidgets (the ``notebooks`` extra),
    else its text bar (a kernel without ipywidgets gets text, without tqdm's warning)."""
    if _in_a_kernel():
        try:
            import ipywidgets  # noqa: F401  (what tqdm.notebook draws with)
            from tqdm.notebook import tqdm as widget_bar

            return widget_bar
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm


class Stage:
    """What ``with stage(...) as st`` gives: ``st.advance(n=1)`` moves the bar; after the
    block, ``st.seconds`` is its time."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.started = time.perf_counter()
        self.seconds = 0.0

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)


@contextmanager
def stage(name: str, total: int | None = None, unit: str = "step") -> Iterator[Stage]:
    """Time the work of the ``with`` block as ``name``, with a bar of ``total`` steps (a
    counter when the total is unknown) while a person watches. When the block ends, one
    line: ``name: 12.3 s``."""
    bar: Any = None
    if bars_on():
        bar = _bar_class()(
            total=total, desc=name, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True
        )
    st = Stage(bar)
    try:
        yield st
    finally:
        st.seconds = round(time.perf_counter() - st.started, 2)
        if bar is not None:
            bar.close()
    log.info("%s: %.1f s", name, st.seconds)
