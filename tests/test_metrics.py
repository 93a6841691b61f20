"""The one implementation of the scaled metrics agrees with utilsforecast's losses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from utilsforecast.losses import bias, mase, rmsse, scaled_quantile_loss

from forecasting.demand.metrics import naive_scales, per_series_scores, series_metrics


def _random_panel(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) of 30 series with text IDs (leading zeros), random lengths, zeros and
    two models' forecasts with a 10% and a 90% quantile."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for i in range(30):
        n = int(rng.integers(5, 80))
        dates = pd.date_range("2024-01-01", periods=n + 7, freq="D")
        y = rng.poisson(rng.uniform(0.2, 20.0), n + 7).astype(float) * (rng.random(n + 7) > 0.3)
        uid = f"{i:04d}"
        train.append(pd.DataFrame({"unique_id": uid, "ds": dates[:n], "y": y[:n]}))
        fc = y[n:] + rng.normal(0, 3, 7)
        test.append(
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "ds": dates[n:],
                    "y": y[n:],
                    "a": fc,
                    "b": np.full(7, y[:n].mean()),
                    "a-lo": fc - 2.0,
                    "a-hi": fc + 2.5,
                }
            )
        )
    return pd.concat(train, ignore_index=True), pd.concat(test, ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_series_metrics_equal_utilsforecast_losses(seed: int) -> None:
    train, test = _random_panel(seed)
    got = series_metrics(test, train, ["a", "b"], {"a": {0.1: "a-lo", 0.9: "a-hi"}})
    got = got.set_index(["unique_id", "model"])
    for name, fn in (("mase", mase), ("rmsse", rmsse)):
        ref = fn(test, ["a", "b"], seasonality=1, train_df=train).set_index("unique_id")
        ref = ref.replace([np.inf, -np.inf], np.nan)
        for m in ("a", "b"):
            np.testing.assert_allclose(
                got.xs(m, level="model")[name].to_numpy(), ref[m].to_numpy(), rtol=1e-9
            )
    ref_bias = bias(test, ["a"]).set_index("unique_id")["a"]
    np.testing.assert_allclose(got.xs("a", level="model")["bias"], ref_bias, rtol=1e-9)
    pins = [
        scaled_quantile_loss(test, {"a": col}, seasonality=1, train_df=train, q=q)
        .set_index("unique_id")["a"]
        .replace([np.inf, -np.inf], np.nan)
        for q, col in ((0.1, "a-lo"), (0.9, "a-hi"))
    ]
    np.testing.assert_allclose(
        got.xs("a", level="model")["scaled_pinball"], (pins[0] + pins[1]) / 2, rtol=1e-9
    )


def test_naive_scales_of_integer_codes_and_of_text_ids_agree() -> None:
    train, _ = _random_panel(3)
    by_text = naive_scales(train)
    codes, names = pd.factorize(train["unique_id"], sort=True)
    by_code = naive_scales(train.assign(unique_id=codes))
    np.testing.assert_allclose(by_text.to_numpy(), by_code.to_numpy())
    assert list(by_text.index) == list(names)


def test_selection_scores_are_the_same_rmsse() -> None:
    train, test = _random_panel(4)
    codes = {uid: i for i, uid in enumerate(sorted(train["unique_id"].unique()))}
    train = train.assign(unique_id=train["unique_id"].map(codes))
    test = test.assign(unique_id=test["unique_id"].map(codes), demand_class="smooth")
    scales = naive_scales(train)
    scores = per_series_scores(test, ["a", "b"], scales, "rmsse")
    assert list(scores["demand_class"].unique()) == ["smooth"]  # one row per series and class
    scores.index = scores.index.get_level_values(0)
    ref = series_metrics(test, None, ["a", "b"], scales=scales).pivot(
        index="unique_id", columns="model", values="rmsse"
    )
    usable = scales["rmsse_scale"].reindex(ref.index) > 1e-6
    np.testing.assert_allclose(scores.loc[usable, ["a", "b"]], ref.loc[usable, ["a", "b"]])


def test_naive_scales_keep_text_ids_whole() -> None:
    """IDs with characters numpy's fixed-width text would drop (a NUL) come back as given."""
    train = pd.DataFrame(
        {
            "unique_id": ["b\0x"] * 3 + ["a\0x"] * 3,
            "ds": list(pd.date_range("2024-01-01", periods=3)) * 2,
            "y": [1.0, 3.0, 2.0, 0.0, 1.0, 0.0],
        }
    )
    scales = naive_scales(train)
    assert list(scales.index) == ["a\0x", "b\0x"]
    np.testing.assert_allclose(scales["mase_scale"], [1.0, 1.5])
