"""`link-customers --engine spark` on local[2]: the same Splink model on Spark finds the
people DuckDB finds. A file of its own, so the test runner can run it beside the others
(Splink on Spark runs many small jobs whatever the size: minutes, not seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.contracts import IDENTITIES, validate
from forecasting.data.synthetic import generate_omnichannel
from forecasting.data.synthetic_identities import silo_customers
from forecasting.identity import CustomerLinker, normalise
from forecasting.identity.metrics import pairwise_scores


@pytest.mark.integration
def test_link_customers_on_spark_finds_the_people_duckdb_finds(
    tracking_uri: str, tmp_path: Path
) -> None:
    pytest.importorskip("pyspark")
    world = generate_omnichannel(n_skus=10, n_days=400, seed=3, n_general_customers=400)
    assert world.transactions is not None
    identities = silo_customers(world.transactions, seed=4).identities
    people = identities["true_person_id"].drop_duplicates().head(60)
    ids = identities[identities["true_person_id"].isin(people)]
    ids_file, out = tmp_path / "ids.parquet", tmp_path / "links.parquet"
    ids.to_parquet(ids_file)
    # a process of its own: a Spark session started earlier in this one would lack Splink's jar
    proc = subprocess.run(
        [sys.executable, "-m", "forecasting.cli", "link-customers", "--identities",
         str(ids_file), "--output", str(out), "--engine", "spark", "--spark-master",
         "local[2]", "--tracking-uri", tracking_uri],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    spark = pd.read_parquet(out).set_index("record_id")["person_id"]
    truth = ids.set_index("record_id")["true_person_id"]
    scores = pairwise_scores(spark, truth.reindex(spark.index))
    assert scores["f1"] > 0.9, scores
    # the same model on DuckDB: almost every record in the same person
    duck = CustomerLinker().fit(normalise(validate(ids, IDENTITIES, "ids"))).links_
    duck = duck.set_index("record_id")["person_id"]
    assert (spark.reindex(duck.index) == duck).mean() > 0.97
