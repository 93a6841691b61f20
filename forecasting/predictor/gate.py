"""The promotion gate: may a new predictor replace the champion?"""

from __future__ import annotations

import numpy as np
import pandas as pd


def chosen_cost(decisions: pd.DataFrame) -> float:
    """Total expected cost of the chosen option over all SKUs."""
    return float(
        np.minimum(decisions["expected_cost_unified"], decisions["expected_cost_tiered"]).sum()
    )


def gate_verdict(
    figures: dict[str, float],
    champion: str | None,
    champion_cost: float | None = None,
    champion_rmsse: float | None = None,
    tolerance: float = 0.0,
) -> str:
    """``pass: ...`` or ``fail vs vN: ...``: without a champion the new version passes;
    with one, its total expected cost and its backtest RMSSE must be no worse than the
    champion's (within ``tolerance``, a share)."""
    if champion is None:
        return "pass: no champion yet"
    worse = []
    cost = figures["expected_cost_total"]
    if champion_cost is not None and cost > champion_cost * (1 + tolerance):
        worse.append(f"cost {cost:.0f} > {champion_cost:.0f}")
    rmsse = figures["backtest_rmsse"]
    if champion_rmsse is not None and rmsse > champion_rmsse * (1 + tolerance):
        worse.append(f"RMSSE {rmsse:.3f} > {champion_rmsse:.3f}")
    return (f"fail vs v{champion}: " + "; ".join(worse)) if worse else f"pass vs v{champion}"
