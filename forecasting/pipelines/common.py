"""What the training pipelines share: the data a model learned from, recorded; customers
mapped to people by the links of ``link-customers``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecasting import tracking
from forecasting.periods import training_period


def record_training_data(
    model: Any,
    data: pd.DataFrame,
    name: str | None = None,
    version: str | None = None,
    uri: str | None = None,
) -> dict[str, str | None]:
    """Tag the active run, and the registered version when given, with what ``model`` was
    trained on and by: the first and last day (``data_start``, ``data_end``), the SKUs and
    channels of ``data`` (``data_n_skus``, ``data_channels``) and the code (``trained_with``:
    the package version, and the git commit when it runs from a checkout). Returns them."""
    period = {f"data_{k}": v for k, v in training_period(model).items()}
    channels = sorted(map(str, pd.unique(data["channel"]))) if "channel" in data else []
    more = f" and {len(channels) - 20} more" if len(channels) > 20 else ""
    tags: dict[str, str | None] = {
        **period,
        "data_n_skus": str(data["sku_id"].nunique()) if "sku_id" in data else None,
        "data_channels": ", ".join(channels[:20]) + more if channels else None,
        "trained_with": code_version(),
    }
    given = {k: v for k, v in tags.items() if v is not None}
    tracking.set_tags(given)
    if name is not None and version is not None:
        tracking.set_version_tags(name, version, given, uri)
    return tags


def code_version() -> str:
    """``forecasting 0.1.0``, plus ``@ <commit>`` (``+changes`` when the package's files
    differ from it) when the package runs from a git checkout."""
    import subprocess
    from pathlib import Path

    from forecasting import __version__

    text = f"forecasting {__version__}"
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return text
    git = ["git", "-C", str(root)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        )
        changed = subprocess.run(
            [*git, "diff", "--quiet", "HEAD", "--", "forecasting"], capture_output=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return text
    if commit.returncode != 0:
        return text
    return f"{text} @ {commit.stdout.strip()}" + ("+changes" if changed.returncode == 1 else "")


def linked(
    tx: pd.DataFrame, links: pd.DataFrame | None, source: str = "<links>"
) -> tuple[pd.DataFrame, dict[str, float]]:
    """``tx`` with each channel's customer mapped to their person by ``links`` (the output
    of ``link-customers``), and the counts of what merged; ``tx`` as given without links."""
    if links is None:
        return tx, {}
    from forecasting.identity import apply_links, read_links

    return apply_links(tx, read_links(links, source))
