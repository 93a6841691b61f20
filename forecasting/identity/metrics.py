"""How good a linkage is against the truth, and what it did.

Pairwise scores (the usual ones for entity resolution): a pair of records is predicted
linked when both are in one predicted person, truly linked when both have one true
person. Counted per cluster with ``n * (n - 1) / 2``, never by listing pairs, so a
million records cost one group-by.
"""

from __future__ import annotations

import pandas as pd


def _pairs(sizes: pd.Series) -> int:
    n = sizes.to_numpy(dtype="int64")
    return int((n * (n - 1) // 2).sum())


def pairwise_scores(predicted: pd.Series, truth: pd.Series) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` of the links, and the pair counts behind them.
    ``predicted`` and ``truth``: a person per record, aligned."""
    frame = pd.DataFrame({"p": predicted.to_numpy(), "t": truth.to_numpy()})
    linked = _pairs(frame.groupby("p", sort=False).size())
    true = _pairs(frame.groupby("t", sort=False).size())
    both = _pairs(frame.groupby(["p", "t"], sort=False).size())
    precision = both / linked if linked else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "pairs_linked": float(linked),
        "pairs_true": float(true),
        "pairs_correct": float(both),
    }


def cluster_counts(person: pd.Series) -> dict[str, float]:
    """How many records, people, people of 1, 2, 3, 4 and 5+ records, and the largest."""
    sizes = person.value_counts().to_numpy()
    out = {"records": float(len(person)), "people": float(len(sizes))}
    for k in (1, 2, 3, 4):
        out[f"people_of_{k}"] = float((sizes == k).sum())
    out["people_of_5_or_more"] = float((sizes >= 5).sum())
    out["largest_person"] = float(sizes.max()) if len(sizes) else 0.0
    return out


def merged_customers(links: pd.DataFrame) -> dict[str, float]:
    """Customer IDs (``channel, customer_id``) before and after mapping to people."""
    known = links.dropna(subset=["customer_id"])
    before = len(known.drop_duplicates(["channel", "customer_id"]))
    after = int(known["person_id"].nunique())
    return {
        "customers_before": float(before),
        "customers_after": float(after),
        "customers_merged": float(before - after),
        "merged_share": round((before - after) / before, 6) if before else 0.0,
    }
