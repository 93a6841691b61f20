"""The predictor's model card: a short markdown artifact a person reads in MLflow's UI before
trusting a registered version (what it learned from, how it forecast on the backtest, what
it decides, and the gate's verdict)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from forecasting.predictor.gate import chosen_cost

#: The card's plots, as artifact paths of the run (the card links them).
DECISIONS_PLOT = "plots/decisions.png"


def predictor_card(
    name: str,
    version: str,
    data: Mapping[str, str | None],
    summary: pd.DataFrame,
    decisions: pd.DataFrame,
    verdict: str,
) -> str:
    """Markdown: ``data`` (the tags of `record_training_data`), the final forecast's backtest
    per demand class (``summary`` of `backtest_report`), the decisions' mix and ``verdict``."""
    lines = [
        f"# {name} version {version}",
        "",
        "## Trained on",
        "",
        f"- days: {data.get('data_start') or '?'} to {data.get('data_end') or '?'}",
        f"- SKUs: {data.get('data_n_skus') or '?'}; channels: {data.get('data_channels') or '?'}",
        f"- code: {data.get('trained_with') or '?'}",
        "",
        "## Demand backtest (rolling origin on the training data)",
        "",
    ]
    final = summary[summary["model"] == "forecast"] if "model" in summary else summary.iloc[:0]
    if final.empty:
        lines.append("No backtest: the history was too short for a window.")
    else:
        cols = [c for c in ("rmsse", "mase", "bias", "scaled_pinball") if c in final.columns]
        lines.append("| demand class | " + " | ".join(cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for _, row in final.iterrows():
            cells = " | ".join(f"{row[c]:.3f}" for c in cols)
            lines.append(f"| {row['demand_class']} | {cells} |")
    n = max(len(decisions), 1)
    tiered = int((decisions["stocking"] == "tiered").sum())
    slow = int(decisions["slow_mover"].sum())
    holds = decisions["hold_reason"].fillna("").str.split(";").explode().str.strip()
    held = holds[holds != ""].value_counts()
    cur = str(decisions["currency"].iloc[0]) if len(decisions) else ""
    lines += [
        "",
        f"## Decisions on the training data ({len(decisions)} SKUs)",
        "",
        f"- tiered: {tiered} ({tiered / n:.0%}); unified: {len(decisions) - tiered}",
        f"- slow movers: {slow} ({slow / n:.0%})",
        "- looked slow but held: "
        + (", ".join(f"{k} {v}" for k, v in held.items()) if len(held) else "none"),
        f"- expected cost of the chosen options: {chosen_cost(decisions):,.2f} {cur}",
        "",
        f"![decisions]({DECISIONS_PLOT})",
        "",
        "## Validation gate",
        "",
        verdict,
        "",
    ]
    return "\n".join(lines)
