"""One customer across channels: identity fields normalised, the generator's silos and their
truth, Splink linkage on DuckDB, the run in MLflow, and the links
feeding repurchase propensity."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from forecasting.cli import main
from forecasting.data.contracts import IDENTITIES, validate
from forecasting.data.synthetic import generate_omnichannel
from forecasting.data.synthetic_identities import SiloedCustomers, silo_customers
from forecasting.errors import DataContractError, ForecastingError, LinkageWarning
from forecasting.identity import CustomerLinker, LinkConfig, apply_links, normalise, read_links
from forecasting.identity.linkage import block_pairs, within_budget
from forecasting.identity.metrics import pairwise_scores
from forecasting.pipelines.identity import link_customers


@pytest.fixture(scope="module")
def silos() -> SiloedCustomers:
    world = generate_omnichannel(n_skus=10, n_days=400, seed=3, n_general_customers=400)
    assert world.transactions is not None
    return silo_customers(world.transactions, seed=4)


def test_the_same_person_typed_differently_normalises_to_one_form() -> None:
    raw = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d"],
            "channel": ["store", "app", "mini_program", "marketplace"],
            "first_name": ["  Anna-Maria ", "anna maria", "ANNA   MARÍA", ""],
            "last_name": ["O'Neil", "oneil", "O’Neil", None],
            "email": [" Anna.Oneil@Mail.COM ", "anna.oneil@mail.com", "no-at-sign", None],
            "phone": ["+86 138 0013 8000", "013800138000", "(138) 0013-8000", "12 34"],
            "postcode": ["sw1a 1aa", "SW1A-1AA", "SW1A1AA", "   "],
            "birth_date": ["1984-01-02", "1984-01-02", None, None],
        }
    )
    out = normalise(validate(raw, IDENTITIES, "ids.csv"))
    assert out["first_name"].iloc[:3].tolist() == ["anna maria"] * 3
    assert out["last_name"].iloc[:3].tolist() == ["oneil"] * 3
    assert out["email"].iloc[:2].tolist() == ["anna.oneil@mail.com"] * 2
    assert out["email"].iloc[2:].isna().all()  # not an e-mail, and missing: never a match
    assert out["phone"].iloc[:3].nunique() == 1 and out["phone"].iloc[3] is pd.NA
    assert out["postcode"].iloc[:3].tolist() == ["SW1A1AA"] * 3
    assert pd.isna(out["first_name"].iloc[3]) and pd.isna(out["postcode"].iloc[3])
    assert out["birth_date"].iloc[0] == "1984-01-02"


def test_a_birth_date_that_is_not_a_date_names_file_column_and_row(tmp_path: Path) -> None:
    raw = pd.DataFrame(
        {"record_id": ["a", "b"], "channel": ["app", "app"], "birth_date": ["1984-01-02", "x"]}
    )
    with pytest.raises(DataContractError) as err:
        validate(raw, IDENTITIES, "ids.csv")
    text = str(err.value)
    assert "ids.csv" in text and "birth_date" in text and "row 1" in text


def test_silos_give_each_channel_its_own_ids_and_keep_the_truth(silos: SiloedCustomers) -> None:
    ids, tx = silos.identities, silos.transactions
    assert ids["record_id"].is_unique
    # one record per customer and channel used; a channel's IDs are its own
    assert not ids.duplicated(["true_person_id", "channel"]).any()
    assert ids.groupby("customer_id")["channel"].nunique().max() == 1
    known = ids.set_index(["channel", "customer_id"])["true_person_id"]
    assert tx.set_index(["channel", "customer_id"]).index.isin(known.index).all()
    people_in_many = (ids.groupby("true_person_id").size() > 1).mean()
    assert people_in_many > 0.3  # the silos split many people
    # noisy but recognisable: for most people every record has the same normalised last
    # name, for some a typo, a swap or a missing field makes them differ
    norm = normalise(validate(ids, IDENTITIES, "ids"))
    agree = norm.dropna(subset=["last_name"]).groupby("true_person_id")["last_name"].nunique()
    assert 0.6 < (agree == 1).mean() < 0.95


def test_linking_recovers_the_people_behind_the_silos(silos: SiloedCustomers) -> None:
    norm = normalise(validate(silos.identities, IDENTITIES, "ids"))
    linker = CustomerLinker().fit(norm)
    links = linker.links_
    assert list(links.columns) == [
        "record_id", "channel", "customer_id", "person_id", "match_probability"
    ]  # fmt: skip
    scores = pairwise_scores(links["person_id"], norm["true_person_id"])
    assert scores["precision"] > 0.95 and scores["recall"] > 0.85, scores
    # a person is named by their lowest record_id; a record on its own has no link
    first = links.groupby("person_id")["record_id"].min()
    assert (first.index == first.to_numpy()).all()
    alone = links["person_id"].map(links["person_id"].value_counts()) == 1
    assert links.loc[alone, "match_probability"].isna().all()
    assert (links.loc[~alone, "match_probability"] >= linker.config.threshold).all()
    # m and u per comparison level, for the run
    params = linker.parameters_
    assert {"first_name_last_name", "phone", "birth_date"} <= set(params["comparison"])
    assert params["u"].between(0, 1).all()


def test_records_of_one_channel_customer_are_one_person_whatever_the_model(
    silos: SiloedCustomers,
) -> None:
    ids = silos.identities.head(200).copy()
    twin = ids.iloc[[0]].assign(record_id="zz-twin", first_name="Completely", last_name="Other")
    twin = twin.assign(phone=None, email=None, birth_date=None, member_id=None, address=None)
    norm = normalise(validate(pd.concat([ids, twin]), IDENTITIES, "ids"))
    links = CustomerLinker().fit(norm).links_.set_index("record_id")
    assert links.loc["zz-twin", "person_id"] == links.loc[ids["record_id"].iloc[0], "person_id"]


def test_people_joining_more_records_than_plausible_are_said(
    silos: SiloedCustomers, tracking_uri: str
) -> None:
    """A person far larger than one record per channel is links chained through shared
    values: the run says how many and names the largest (here with a limit of 2 records,
    which the world's 3- and 4-channel customers exceed)."""
    ids = silos.identities.head(400)
    with pytest.warns(LinkageWarning, match=r"people join more than 2 records each") as said:
        result = link_customers(ids, LinkConfig(max_person_records=2), tracking_uri=tracking_uri)
    sizes = result.links["person_id"].value_counts()
    over = int((sizes > 2).sum())
    assert over > 0 and result.metrics["people_over_max_records"] == over
    chained = [str(w.message) for w in said if w.category is LinkageWarning]
    assert len(chained) == 1 and chained[0].startswith(f"{over:,} people")
    assert f"the largest, {sizes.index[0]}, joins {sizes.iloc[0]}" in chained[0]


def test_a_table_too_thin_to_learn_from_fails_in_one_line() -> None:
    thin = pd.DataFrame(
        {
            "record_id": ["a", "b"],
            "channel": ["app", "store"],
            "first_name": ["Ann", "Bob"],
            "phone": ["123456789", "987654321"],
        }
    )
    with pytest.raises(ForecastingError) as err:
        CustomerLinker().fit(normalise(validate(thin, IDENTITIES, "ids")))
    text = str(err.value)
    assert "2 records" in text and "'phone'" in text and "\n" not in text
    nothing = thin[["record_id", "channel"]]
    with pytest.raises(ForecastingError, match="no identifying field has a value"):
        CustomerLinker().fit(normalise(validate(nothing, IDENTITIES, "ids")))


def test_links_map_each_channel_customer_to_their_person() -> None:
    links = pd.DataFrame(
        {
            "record_id": ["r1", "r2", "r3"],
            "channel": ["store", "app", "app"],
            "customer_id": ["S1", "A9", "A7"],
            "person_id": ["r1", "r1", "r3"],
            "match_probability": [0.99, 0.99, None],
        }
    )
    tx = pd.DataFrame(
        {
            "customer_id": ["S1", "A9", "A7", "X5"],
            "channel": ["store", "app", "app", "marketplace"],
        }
    )
    mapped, counts = apply_links(tx, read_links(links, "links.csv"))
    assert mapped["customer_id"].tolist() == ["r1", "r1", "r3", "X5"]
    assert counts["link_customers_before"] == 4 and counts["link_customers_after"] == 3
    contradiction = links.assign(customer_id=["S1", "A9", "A9"])
    with pytest.raises(DataContractError, match="one channel's customer two people"):
        read_links(contradiction, "links.csv")


@pytest.mark.integration
def test_link_customers_cli_logs_the_model_and_feeds_propensity(
    silos: SiloedCustomers, tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids_file, links_file = tmp_path / "ids.csv", tmp_path / "links.csv"
    silos.identities.assign(loyalty_tier="gold").to_csv(ids_file, index=False)
    with pytest.warns(UserWarning, match="loyalty_tier") as said:  # the column it ignores
        code = main(["link-customers", "--identities", str(ids_file), "--output", str(links_file)])
    assert code == 0, capsys.readouterr().err
    assert sum("loyalty_tier" in str(w.message) for w in said) == 1  # said once
    links = pd.read_csv(links_file, dtype=str)
    assert len(links) == len(silos.identities)
    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("forecasting-identity")
    assert exp is not None
    run = client.search_runs([exp.experiment_id])[0]
    assert run.data.metrics["f1"] > 0.9 and run.data.metrics["customers_merged"] > 0
    assert run.data.metrics["people_over_max_records"] == 0  # no chained links said
    assert run.data.params["link.threshold"] == "0.9"
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/match_weights.png", "plots/waterfall.png"} <= arts
    model = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/parameters.parquet", "model/splink_model.json"} <= model

    tx_file, scores = tmp_path / "tx.parquet", tmp_path / "scores.csv"
    silos.transactions.to_parquet(tx_file)
    last = silos.transactions["ts"].max().normalize() - pd.Timedelta(days=60)
    code = main(
        [
            "train-propensity",
            "--transactions",
            str(tx_file),
            "--cutoff",
            str(last.date()),
            "--horizon-days",
            "60",
            "--scores-out",
            str(scores),
            "--no-register",
            "--links",
            str(links_file),
        ]
    )
    assert code == 0, capsys.readouterr().err
    scored = pd.read_csv(scores, dtype=str)
    assert scored["customer_id"].isin(links["person_id"]).mean() > 0.99
    exp = client.get_experiment_by_name("forecasting-propensity")
    assert exp is not None
    run = client.search_runs([exp.experiment_id])[0]
    assert run.data.metrics["link_customers_merged"] > 0
    assert run.data.params["data.links"] == str(links_file)


def test_a_blocking_rule_over_its_pair_budget_is_narrowed_or_left_out() -> None:
    """Common names make a name-only block quadratic: over ``max_block_pairs`` a rule gets
    one more field (never one another EM session blocks on), or is left out; both said."""
    n = 6
    table = pd.DataFrame(
        {
            "first_name": ["wei"] * n,
            "last_name": ["wang"] * n,
            "birth_date": [f"1980-01-0{i + 1}" for i in range(n)],
            "postcode": ["100001", "100001", "200002", "200002", "300003", "300003"],
            "city": ["a"] * n,
        }
    )
    fields = list(table.columns)
    assert block_pairs(table, ("first_name", "last_name")) == n * (n - 1) // 2
    notes: list[str] = []
    keys = within_budget([("first_name", "last_name")], table, fields, 5, notes)
    assert keys == [("first_name", "last_name", "birth_date")]
    assert "would compare 15 pairs" in notes[0] and "first_name+last_name+birth_date" in notes[0]
    # EM sessions: birth_date is another session's key, so postcode narrows instead
    em = within_budget(
        [("first_name", "last_name"), ("birth_date",)], table, fields, 5, [], separate=True
    )
    assert em == [("first_name", "last_name", "postcode"), ("birth_date",)]
    notes = []
    assert within_budget([("city",)], table, ["city"], 5, notes) == []
    assert "left out" in notes[0]


def test_a_person_whose_names_are_both_mistyped_is_still_found(silos: SiloedCustomers) -> None:
    """No shared name, e-mail, phone or member ID: the same birth date at the same address
    and postcode still brings the two records to be compared, and linked."""
    ids = validate(silos.identities, IDENTITIES, "ids").copy()
    full = ids.dropna(subset=["birth_date", "postcode", "address"])
    twice = full[full["true_person_id"].duplicated(keep=False)]
    person = twice["true_person_id"].iloc[0]
    first, second = twice.index[twice["true_person_id"] == person][:2]
    ids.loc[second, ["birth_date", "postcode", "address"]] = ids.loc[
        first, ["birth_date", "postcode", "address"]
    ].to_numpy()
    # the second record's names swapped and mistyped; nothing else that identifies shared
    ids.loc[second, "first_name"] = ids.loc[first, "last_name"] + "x"
    ids.loc[second, "last_name"] = "q" + ids.loc[first, "first_name"]
    ids.loc[second, ["email", "phone", "member_id", "customer_id"]] = None
    links = CustomerLinker().fit(normalise(ids)).links_.set_index("record_id")["person_id"]
    assert links[ids.loc[first, "record_id"]] == links[ids.loc[second, "record_id"]]


def test_build_predictor_with_links_counts_people_in_its_repurchase_rates(
    silos: SiloedCustomers, tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``build-predictor --links``: the registered predictor's SKU repurchase rates are those
    of the people behind the silos, not of the silos' IDs, and the run says what merged."""
    from forecasting import tracking
    from forecasting.propensity.repurchase import sku_repurchase_rates
    from forecasting.serving import load_predictor

    links = CustomerLinker().fit(normalise(silos.identities)).links_
    links_file, tx_file = tmp_path / "links.csv", tmp_path / "tx.parquet"
    links.to_csv(links_file, index=False)
    tx = silos.transactions
    tx.to_parquet(tx_file)
    args = ["build-predictor", "--transactions", str(tx_file), "--links", str(links_file)]
    assert main([*args, "--horizon", "14"]) == 0, capsys.readouterr().err

    predictor = load_predictor(f"models:/{tracking.PREDICTOR_MODEL}@{tracking.SERVING_ALIAS}")
    facts = predictor.sku_facts_.set_index("sku_id")
    person = apply_links(tx, read_links(links))[0]

    def rates(t: pd.DataFrame) -> pd.Series:
        r = sku_repurchase_rates(t, t["ts"].max(), 60).set_index("sku_id")["predicted_rate"]
        return r.reindex(facts.index)

    pd.testing.assert_series_equal(
        facts["repurchase_rate"], rates(person), check_names=False, rtol=1e-9
    )
    assert (rates(person) > rates(tx)).mean() > 0.5  # silos split repeat buyers
    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("forecasting-predictor")
    assert exp is not None
    run = client.search_runs([exp.experiment_id])[0]
    assert run.data.metrics["link_customers_merged"] > 0
