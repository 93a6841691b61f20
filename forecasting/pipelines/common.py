"""What the training pipelines share: the data a model learned from, recorded; customers
mapped to people by the links of ``link-customers``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.periods import training_period


def record_training_period(
    model: Any, name: str | None = None, version: str | None = None, uri: str | None = None
) -> dict[str, str | None]:
    """Tag the active run, and the registered version when given, with the first and last
    day of ``model``'s training data (``data_start``, ``data_end``). Returns them."""
    period = {f"data_{k}": v for k, v in training_period(model).items()}
    tags = {k: v for k, v in period.items() if v is not None}
    tracking.set_tags(tags)
    if name is not None and version is not None:
        tracking.set_version_tags(name, version, tags, uri)
    return period


def linked(
    tx: pd.DataFrame, links: pd.DataFrame | None, source: str = "<links>"
) -> tuple[pd.DataFrame, dict[str, float]]:
    """``tx`` with each channel's customer mapped to their person by ``links`` (the output
    of ``link-customers``), and the counts of what merged; ``tx`` as given without links."""
    if links is None:
        return tx, {}
    from forecasting.identity import apply_links, read_links

    return apply_links(tx, read_links(links, source))
