"""The output of ``link-customers`` read back and applied: each channel's customer ID
replaced by the person it belongs to, before repurchase features and rates."""

from __future__ import annotations

import pandas as pd

from forecasting.data.contracts import LINKS, validate
from forecasting.errors import DataContractError


def read_links(links: pd.DataFrame, source: str = "<links>") -> pd.Series:
    """``person_id`` by (``channel``, ``customer_id``) from a links table (validated:
    `forecasting.data.contracts.LINKS`); a channel's customer that belongs to two people
    is an error (one customer ID is one customer)."""
    links = validate(links, LINKS, source)
    if "customer_id" not in links:
        raise DataContractError(
            source,
            "required but missing: the links do not say which customer each record is",
            "give identities with customer_id to link-customers",
            column="customer_id",
        )
    known = links.dropna(subset=["customer_id", "person_id"])
    known = known.astype({c: "string" for c in ("channel", "customer_id", "person_id")})
    pairs = known[["channel", "customer_id", "person_id"]].drop_duplicates()
    twice = pairs.duplicated(["channel", "customer_id"], keep=False)
    if twice.any():
        shown = pairs[twice].head(3)
        rows = "; ".join(
            f"{r.channel}/{r.customer_id} -> {r.person_id}" for r in shown.itertuples()
        )
        raise DataContractError(
            source,
            f"{int(twice.sum())} rows give one channel's customer two people",
            "give each (channel, customer_id) one person_id",
            column="person_id",
            rows=rows,
        )
    return pairs.set_index(["channel", "customer_id"])["person_id"]


def apply_links(
    transactions: pd.DataFrame, person_of: pd.Series
) -> tuple[pd.DataFrame, dict[str, float]]:
    """``transactions`` with ``customer_id`` replaced by the person (`read_links`) where
    the (``channel``, ``customer_id``) is known; other customers keep their ID. Also
    returns the counts: customers before and after, and transactions mapped."""
    keys = pd.MultiIndex.from_arrays(
        [transactions["channel"].astype("string"), transactions["customer_id"].astype("string")]
    )
    person = person_of.reindex(keys).to_numpy(dtype=object)
    mapped = pd.notna(person)
    before = int(transactions[["channel", "customer_id"]].drop_duplicates().shape[0])
    out = transactions.assign(
        customer_id=pd.Series(person, index=transactions.index).where(
            mapped, transactions["customer_id"].astype(object)
        )
    )
    after = int(out["customer_id"].nunique())
    counts = {
        "link_customers_before": float(before),
        "link_customers_after": float(after),
        "link_customers_merged": float(before - after),
        "link_transactions_mapped_share": round(float(mapped.mean()), 6) if len(mapped) else 0.0,
    }
    return out, counts
