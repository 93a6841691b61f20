"""Repurchase propensity: BG/NBD against the paper and simulation, leakage-free features,
fallbacks, the SKU repurchase rate and the registered model."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from forecasting import tracking
from forecasting.cli import main
from forecasting.data.synthetic import SyntheticData, generate_omnichannel
from forecasting.errors import LabelOverlapWarning, ShortHistoryWarning
from forecasting.pipelines.propensity import train_propensity
from forecasting.propensity.bgnbd import BGNBD, BGNBDParams, simulate_bgnbd
from forecasting.propensity.features import customer_features, repurchase_labels
from forecasting.propensity.model import PropensityConfig, PropensityModel
from forecasting.propensity.repurchase import sku_repurchase_rates

PAPER = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
FAST = PropensityConfig(horizon_days=60, n_train_cutoffs=3, n_estimators=200, min_customers=100)


def test_bgnbd_reproduces_the_papers_worked_example() -> None:
    model = BGNBD.from_params(PAPER)
    expected = model.expected_purchases(39, [2], [30.43], [38.86])
    assert expected[0] == pytest.approx(1.226, abs=0.001)


def test_bgnbd_recovers_simulated_parameters() -> None:
    data = simulate_bgnbd(PAPER, 20_000, T=39, seed=3)
    fit = BGNBD(seed=0).fit(data["x"], data["t_x"], data["T"]).params_
    assert fit.r == pytest.approx(PAPER.r, rel=0.1)
    assert fit.alpha == pytest.approx(PAPER.alpha, rel=0.15)
    assert fit.a == pytest.approx(PAPER.a, rel=0.2)
    assert fit.b == pytest.approx(PAPER.b, rel=0.25)


def test_bgnbd_fit_is_the_maximum_likelihood_of_every_customer() -> None:
    """The fit works on distinct (x, t_x, T) with counts and an analytic gradient: it must
    land where the plain per-customer likelihood is highest (no neighbour is higher)."""
    from forecasting.propensity.bgnbd import _log_likelihood

    data = simulate_bgnbd(PAPER, 5_000, T=39, seed=5).round(0)  # whole weeks: many repeats
    x, t_x, T = (data[c].to_numpy() for c in ("x", "t_x", "T"))
    fit = BGNBD(seed=0).fit(x, t_x, T).params_
    best = np.array([fit.r, fit.alpha, fit.a, fit.b])
    at_best = _log_likelihood(*best, x, t_x, T).sum()
    for i in range(4):
        for step in (0.98, 1.02):
            moved = best.copy()
            moved[i] *= step
            assert _log_likelihood(*moved, x, t_x, T).sum() < at_best, (i, step)


def test_bgnbd_probabilities_behave() -> None:
    model = BGNBD.from_params(PAPER)
    # no repeat purchase: alive for sure; a long silence after many purchases: likely gone
    assert model.p_alive([0], [0], [30])[0] == 1.0
    assert model.p_alive([10], [5], [39])[0] < model.p_alive([10], [38], [39])[0]
    p = model.p_any_purchase(39, [0, 2, 10], [0, 30, 38], [39, 39, 39])
    assert np.all((p > 0) & (p < 1)) and p[2] > p[0]


@pytest.fixture(scope="module")
def shop() -> SyntheticData:
    return generate_omnichannel(n_skus=40, n_days=420, seed=21)


def test_features_never_read_after_the_cutoff(shop: SyntheticData) -> None:
    tx = shop.transactions
    assert tx is not None
    cutoff = pd.Timestamp("2024-09-30")
    before = customer_features(tx, cutoff)
    changed = tx.copy()
    after = changed["ts"] >= cutoff + pd.Timedelta(days=1)
    changed.loc[after, "quantity"] *= 7  # the future changes...
    changed.loc[after, "customer_id"] = "999999"
    pd.testing.assert_frame_equal(customer_features(changed, cutoff), before)  # ...features do not
    labels = repurchase_labels(tx, cutoff, 30)
    in_window = tx[
        (tx["ts"] >= cutoff + pd.Timedelta(days=1)) & (tx["ts"] < cutoff + pd.Timedelta(days=31))
    ]
    assert set(labels.index) == set(in_window["customer_id"])


def test_model_scores_every_customer_and_beats_chance(shop: SyntheticData) -> None:
    tx = shop.transactions
    assert tx is not None
    cutoff = pd.Timestamp("2024-12-31")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = PropensityModel(FAST).fit(tx, cutoff)
    scores = model.predict(tx, cutoff)
    known = set(tx.loc[tx["ts"] < cutoff + pd.Timedelta(days=1), "customer_id"])
    assert set(scores["customer_id"]) == known
    assert scores["score"].between(0, 1).all()
    assert model.strategy_ in ("model", "blend", "bgnbd")
    from sklearn.metrics import roc_auc_score

    y = repurchase_labels(tx, cutoff, 60).reindex(scores["customer_id"]).fillna(0)
    auc, auc_bgnbd = roc_auc_score(y, scores["score"]), roc_auc_score(y, scores["score_bgnbd"])
    assert auc > 0.6 and auc > auc_bgnbd - 0.03  # never clearly worse than the baseline
    assert scores["score"].sum() == pytest.approx(y.sum(), rel=0.1)  # right in total


def test_save_load_same_scores(shop: SyntheticData, tmp_path: Path) -> None:
    tx = shop.transactions
    assert tx is not None
    model = PropensityModel(FAST).fit(tx, "2024-12-31")
    loaded = PropensityModel.load(model.save(tmp_path / "p"))
    pd.testing.assert_frame_equal(loaded.predict(tx, "2024-12-31"), model.predict(tx, "2024-12-31"))


def test_one_sku_one_channel_short_history_falls_back_to_bgnbd() -> None:
    rng = np.random.default_rng(0)
    n = 300
    tx = pd.DataFrame(
        {
            "customer_id": [f"{i:04d}" for i in rng.integers(0, 80, n)],
            "sku_id": "0001",
            "channel": "store",
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 100, n), unit="D"),
            "quantity": 1.0,
        }
    )
    with pytest.warns(ShortHistoryWarning, match="BG/NBD alone"):
        model = PropensityModel(PropensityConfig(horizon_days=90)).fit(tx, "2024-04-09")
    scores = model.predict(tx, "2024-04-09")
    assert model.strategy_ == "bgnbd"
    assert len(scores) == tx["customer_id"].nunique()
    assert scores["score"].between(0, 1).all() and scores["score"].std() > 0


def test_sku_repurchase_rate_counts_buyers_who_buy_again() -> None:
    day = pd.Timestamp("2024-01-01")
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "c", "d"],
            "sku_id": ["X", "X", "X", "X", "X", "Y"],
            "ts": [day, day + pd.Timedelta(days=10), day, day, day + pd.Timedelta(days=50), day],
        }
    )
    rates = sku_repurchase_rates(tx, "2024-06-30", 30).set_index("sku_id")
    assert rates.loc["X", "buyers"] == 3
    assert rates.loc["X", "repurchasers"] == 1  # a within 30 days; c only after 50
    assert rates.loc["X", "observed_rate"] == pytest.approx(1 / 3)
    assert 0 < rates.loc["Y", "predicted_rate"] < 1  # shrunk, not 0


def test_consumables_have_higher_repurchase_rates_than_durables(shop: SyntheticData) -> None:
    tx = shop.transactions
    assert tx is not None
    rates = sku_repurchase_rates(tx, "2024-12-31", 60)
    arch = rates["sku_id"].map(shop.truth.set_index("sku_id")["archetype"])
    by = rates.groupby(arch)["predicted_rate"].mean()
    assert by["consumable"] > 3 * by["durable"]


def test_train_propensity_logs_registers_and_round_trips(
    shop: SyntheticData, tracking_uri: str
) -> None:
    tx = shop.transactions
    assert tx is not None
    result = train_propensity(tx, "2024-12-31", FAST, tracking_uri=tracking_uri)
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["strategy"] == result.model.strategy_
    assert "holdout_bgnbd_roc_auc" in run.data.metrics
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "plots")}
    assert plots == {"plots/calibration.png", "plots/feature_importance.png"}
    loaded = mlflow.pyfunc.load_model(f"models:/{tracking.PROPENSITY_MODEL}/1")
    got = loaded.predict(tx, params={"cutoff": "2024-12-31"})
    pd.testing.assert_frame_equal(got, result.scores, check_dtype=False)


def test_cli_train_propensity_writes_scores(
    shop: SyntheticData, tracking_uri: str, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    tx = shop.transactions
    assert tx is not None
    src = tmp_path / "tx.parquet"
    tx.to_parquet(src)
    out = tmp_path / "scores.csv"
    code = main(
        [
            "train-propensity",
            "--transactions",
            str(src),
            "--cutoff",
            "2024-12-31",
            "--horizon-days",
            "60",
            "--scores-out",
            str(out),
            "--no-register",
        ]
    )
    assert code == 0, capsys.readouterr().err
    scores = pd.read_csv(out, dtype={"customer_id": str})
    assert list(scores.columns) == ["customer_id", "score"]
    assert scores["customer_id"].str.startswith("0").any()
    assert len(scores) == tx.loc[tx["ts"] < "2025-01-01", "customer_id"].nunique()


def test_no_training_label_window_reaches_the_held_out_one(shop: SyntheticData) -> None:
    """Cutoffs closer than the horizon: said aloud, and the held-out window stays clean."""
    assert shop.transactions is not None
    cfg = FAST.with_(cutoff_step_days=20)
    with pytest.warns(LabelOverlapWarning, match="cutoff_step_days 20 < horizon_days 60"):
        model = PropensityModel(cfg).fit(shop.transactions, "2024-12-31")
    held = pd.Timestamp(model.holdout_cutoff_)
    assert model.train_cutoffs_
    for c in model.train_cutoffs_:  # each training label window ends by the held-out cutoff
        assert pd.Timestamp(c) + pd.Timedelta(days=cfg.horizon_days) <= held


def test_nothing_after_the_cutoff_moves_the_model_whatever_the_horizon() -> None:
    """A horizon over a year: the season shift must not read the days after the cutoff."""
    world = generate_omnichannel(n_skus=20, n_days=900, seed=4, holdout_days=0)
    tx = world.transactions
    assert tx is not None
    cutoff = tx["ts"].min().normalize() + pd.Timedelta(days=830)
    cfg = FAST.with_(horizon_days=370, n_train_cutoffs=1, min_customers=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = PropensityModel(cfg).fit(tx, cutoff)
        past = PropensityModel(cfg).fit(tx[tx["ts"] < cutoff + pd.Timedelta(days=1)], cutoff)
    assert full.holdout_cutoff_ is not None  # a labelled cutoff: the season shift is computed
    assert full.season_shift_ == past.season_shift_
    pd.testing.assert_frame_equal(full.predict(tx, cutoff), past.predict(tx, cutoff))


def test_the_strategy_is_chosen_on_customers_apart_from_the_reported_ones(
    shop: SyntheticData,
) -> None:
    assert shop.transactions is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = PropensityModel(FAST).fit(shop.transactions, "2024-12-31")
    chosen_on = set(model.choice_customers_)
    reported_on = set(model.holdout_scores_["customer_id"])
    assert chosen_on and reported_on
    assert not chosen_on & reported_on
