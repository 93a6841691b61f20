"""The demand forecaster on synthetic data with known truth: shape, robustness, accuracy."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.data.synthetic import SyntheticData, generate_omnichannel
from forecasting.demand.config import DemandConfig
from forecasting.demand.forecaster import DemandForecaster
from forecasting.errors import FallbackWarning, ShortHistoryWarning

QCOLS = ["forecast-lo-80", "forecast-median", "forecast-hi-80"]
FAST = DemandConfig(
    horizon=14,
    lgb_n_estimators=60,
    local_models=("AutoETS", "CrostonSBA", "TSB"),
    tsb_grid=((0.1, 0.1),),
)


@pytest.fixture(scope="module")
def small() -> SyntheticData:
    return generate_omnichannel(n_skus=30, n_days=240, seed=11, transactions=False)


@pytest.fixture(scope="module")
def fitted(small: SyntheticData) -> DemandForecaster:
    return DemandForecaster(FAST).fit(small.sales)


def test_forecasts_every_series_and_period_with_ordered_non_negative_quantiles(
    small: SyntheticData, fitted: DemandForecaster
) -> None:
    fc = fitted.forecast()
    n_series = small.sales.groupby(["sku_id", "channel"]).ngroups
    assert len(fc) == n_series * 14
    assert list(fc.columns[:7]) == ["sku_id", "channel", "ds", "forecast", *QCOLS]
    last = small.sales["ds"].max()
    assert fc["ds"].min() == last + pd.Timedelta(days=1)
    assert fc["ds"].max() == last + pd.Timedelta(days=14)
    values = fc[["forecast", *QCOLS]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (fc["forecast-lo-80"] <= fc["forecast-median"]).all()
    assert (fc["forecast-median"] <= fc["forecast-hi-80"]).all()
    assert set(fc["sku_id"]) == set(small.sales["sku_id"])  # "00001" stays "00001"


def test_beats_seasonal_naive_on_held_out_synthetic_demand() -> None:
    world = generate_omnichannel(n_skus=40, n_days=300, seed=5, transactions=False)
    end = world.sales["ds"].max() - pd.Timedelta(days=14)
    train, test = world.sales[world.sales["ds"] <= end], world.sales[world.sales["ds"] > end]
    cfg = FAST.with_(local_models=("AutoETS", "SeasonalNaive", "CrostonSBA", "TSB"))
    model = DemandForecaster(cfg).fit(train)
    fc = model.forecast(all_models=True).merge(test, on=["sku_id", "channel", "ds"])
    err = (
        fc.assign(
            e_final=(fc["forecast"] - fc["y"]) ** 2, e_naive=(fc["SeasonalNaive"] - fc["y"]) ** 2
        )
        .groupby(["sku_id", "channel"])[["e_final", "e_naive"]]
        .mean()
    )
    assert err["e_final"].mean() < 0.8 * err["e_naive"].mean()
    inside = (fc["y"] >= fc["forecast-lo-80"]) & (fc["y"] <= fc["forecast-hi-80"])
    assert 0.6 < inside.mean() < 0.97


def test_selection_is_the_best_candidate_per_class_in_the_backtest(
    fitted: DemandForecaster,
) -> None:
    cv = fitted.cv_
    assert set(cv["cutoff"].unique()).__len__() == FAST.n_windows
    for cls, members in fitted.selection_.items():
        rows = cv[cv["demand_class"] == cls]
        if cls.startswith("_") or rows.empty:
            continue
        expected = rows[list(members)].mean(axis=1).to_numpy()
        np.testing.assert_allclose(rows["forecast"].to_numpy(), expected)
        # and no other candidate has a lower mean RMSSE on this class's series
        err2 = rows[fitted.candidates_].sub(rows["y"], axis=0) ** 2
        mse = err2.groupby(rows["unique_id"].to_numpy()).mean()
        scale = fitted.scales_["rmsse_scale"].reindex(mse.index)
        mean_rmsse = mse.div(scale, axis=0).pow(0.5).mean()
        assert mean_rmsse["+".join(members)] == pytest.approx(mean_rmsse.min())


def test_save_load_gives_the_same_forecasts_from_lean_files(
    tmp_path: Path, small: SyntheticData, fitted: DemandForecaster
) -> None:
    folder = fitted.save(tmp_path / "model")
    names = {p.name for p in folder.iterdir()}
    expected = {
        "class_quantiles.parquet",
        "config.json",
        "selection.json",
        "series_quantiles.parquet",
    }
    assert names == expected | ({"lightgbm.txt"} if fitted.lgb_ is not None else set())
    loaded = DemandForecaster.load(folder)
    pd.testing.assert_frame_equal(loaded.predict(small.sales), fitted.predict(small.sales))
    # a loaded model saved again (e.g. registered from a folder) keeps its LightGBM file
    again = DemandForecaster.load(loaded.save(tmp_path / "again"))
    pd.testing.assert_frame_equal(again.predict(small.sales), fitted.predict(small.sales))


def test_same_seed_same_forecasts(small: SyntheticData, fitted: DemandForecaster) -> None:
    again = DemandForecaster(FAST).fit(small.sales)
    pd.testing.assert_frame_equal(again.forecast(), fitted.forecast())


def test_short_histories_one_channel_no_sales_and_a_long_horizon() -> None:
    world = generate_omnichannel(
        n_skus=12, n_days=120, seed=2, channels=("store",), transactions=False
    )
    sales = world.sales.copy()
    extra = pd.DataFrame(
        {
            "sku_id": ["00999"] * 3 + ["01000"] * 5,
            "channel": "store",
            "ds": list(pd.date_range(end=sales["ds"].max(), periods=3))
            + list(pd.date_range(end=sales["ds"].max(), periods=5)),
            "y": [0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # 01000 never sold
        }
    )
    sales = pd.concat([sales, extra], ignore_index=True)
    with pytest.warns(ShortHistoryWarning):
        model = DemandForecaster(FAST.with_(horizon=90)).fit(sales)
    fc = model.forecast()
    assert fc.groupby(["sku_id", "channel"]).size().eq(90).all()
    assert np.isfinite(fc[["forecast", *QCOLS]].to_numpy()).all()
    never = fc[fc["sku_id"] == "01000"]
    assert (never[["forecast", *QCOLS]].to_numpy() == 0).all()
    assert never["demand_class"].eq("no_demand").all()
    assert fc.loc[fc["sku_id"] == "00999", "forecast"].gt(0).all()


def test_too_short_to_backtest_warns_and_still_forecasts() -> None:
    sales = pd.DataFrame(
        {
            "sku_id": "1",
            "channel": "app",
            "ds": pd.date_range("2024-01-01", periods=10),
            "y": [1.0, 0, 2, 1, 0, 3, 1, 0, 2, 1],
        }
    )
    with pytest.warns(ShortHistoryWarning, match="cross-validate"):
        model = DemandForecaster(FAST).fit(sales)
    fc = model.forecast()
    assert len(fc) == 14 and fc["forecast"].between(0.3, 3).all()
    assert (fc["forecast-hi-80"] >= fc["forecast"]).all()


def test_daily_sales_are_summed_into_weeks() -> None:
    world = generate_omnichannel(n_skus=10, n_days=7 * 60, seed=3, transactions=False)
    cfg = FAST.with_(freq="W", horizon=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortHistoryWarning)
        model = DemandForecaster(cfg).fit(world.sales)
    fc = model.forecast()
    assert (fc["ds"].dt.dayofweek == 0).all()
    weekly_mean = model.panel_.groupby("unique_id")["y"].mean().mean()
    daily_mean = world.sales.groupby(["sku_id", "channel"])["y"].mean().mean()
    assert weekly_mean > 5 * daily_mean


def test_history_shorter_than_lightgbm_warmup_falls_back_to_local_models() -> None:
    world = generate_omnichannel(n_skus=10, n_days=120, seed=4, transactions=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortHistoryWarning)
        model = DemandForecaster(FAST.with_(horizon=28)).fit(world.sales)
    assert not any("LightGBM" in members for members in model.selection_.values())
    fc = model.forecast()
    assert np.isfinite(fc[["forecast", *QCOLS]].to_numpy()).all()


def test_costly_models_are_fitted_and_selected_only_for_the_costly_classes(
    small: SyntheticData, fitted: DemandForecaster
) -> None:
    classes = fitted.classes_.set_index("unique_id")["demand_class"]
    cv = fitted.cv_.assign(cls=fitted.cv_["unique_id"].map(classes))
    costly = cv["cls"].isin(FAST.costly_classes)
    assert costly.any() and (~costly).any()  # the fixture has both kinds
    assert cv.loc[~costly, "AutoETS"].isna().all()  # never fitted there
    for cls, verdict in fitted.screening_.items():
        rows = cv["cls"] == cls
        # kept: backtested on every series of the class; dropped: on none, never selected
        assert cv.loc[rows, "AutoETS"].notna().all() == verdict["costly_kept"]
        assert cv.loc[rows, "AutoETS"].isna().all() == (not verdict["costly_kept"])
        if not verdict["costly_kept"]:
            assert not any("AutoETS" in m for m in fitted.selection_[cls])
    for cls in ("intermittent", "lumpy"):
        assert not any("AutoETS" in m for m in fitted.selection_[cls])
    assert np.isfinite(fitted.forecast()["forecast"]).all()


def _weekly_seasonal_sales(n_series: int, n_days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n_days)
    rows = []
    for i in range(n_series):
        mean = 30 + 15 * np.sin(2 * np.pi * (t + i) / 7)
        rows.append(
            pd.DataFrame(
                {
                    "sku_id": f"{i:04d}",
                    "channel": "app",
                    "ds": pd.date_range("2024-01-01", periods=n_days),
                    "y": rng.poisson(mean).astype(float),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_a_costly_model_that_wins_on_the_sample_is_fitted_on_the_whole_class() -> None:
    sales = _weekly_seasonal_sales(16, 200, seed=3)  # smooth, strongly weekly
    cfg = FAST.with_(local_models=("AutoETS", "CrostonSBA"), use_lightgbm=False, costly_sample=5)
    model = DemandForecaster(cfg).fit(sales)
    verdict = model.screening_["smooth"]
    assert verdict == {
        "sample": 5,
        "series": 16,
        "best_on_sample": "AutoETS",
        "best_costly": "AutoETS",
        "costly_kept": True,
    }
    assert model.cv_["AutoETS"].notna().all()  # the other 11 series were backtested too
    assert model.selection_["smooth"] == ("AutoETS",)


def test_a_costly_model_over_its_series_budget_is_not_tried_and_said() -> None:
    """A class whose series beyond the sample exceed ``costly_max_series`` could never keep
    AutoETS, so it is not fitted on the sample either (AutoETS would win it: see above):
    said in a warning and in the screening verdict, and the class gets a cheap model."""
    sales = _weekly_seasonal_sales(16, 200, seed=3)
    cfg = FAST.with_(
        local_models=("AutoETS", "CrostonSBA"),
        use_lightgbm=False,
        costly_sample=5,
        costly_max_series=10,  # 11 series beyond the sample
    )
    with pytest.warns(FallbackWarning, match=r"AutoETS not tried on the smooth class: .* 11 "):
        model = DemandForecaster(cfg).fit(sales)
    assert model.screening_["smooth"] == {
        "sample": 0,
        "series": 16,
        "costly_kept": False,
        "over_budget": 11,
    }
    assert "AutoETS" not in model.cv_.columns or model.cv_["AutoETS"].isna().all()
    assert model.selection_["smooth"] == ("CrostonSBA",)
    assert np.isfinite(model.forecast()["forecast"]).all()
    # within the budget it is tried and kept (the test above), one series more is not
    roomy = DemandForecaster(cfg.with_(costly_max_series=11)).fit(sales)
    assert roomy.screening_["smooth"]["costly_kept"] is True


def test_without_a_costly_model_among_the_candidates_nothing_is_screened_or_said() -> None:
    """The same classes over the budget, but AutoETS is not a candidate: no warning about
    a model that was never asked for, no screening verdict."""
    sales = _weekly_seasonal_sales(16, 200, seed=3)
    cfg = FAST.with_(
        local_models=("CrostonSBA", "SeasonalNaive"),
        use_lightgbm=False,
        costly_sample=5,
        costly_max_series=10,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)
        model = DemandForecaster(cfg).fit(sales)
    assert model.screening_ == {}
    assert np.isfinite(model.forecast()["forecast"]).all()


def test_backtest_forecasts_ignore_history_older_than_the_window(small: SyntheticData) -> None:
    """With ``history`` (local models) and a row budget (LightGBM) the models learn from the
    latest periods only: doubling every sale older than the window changes none of the
    candidates' backtest forecasts."""
    sales = small.sales
    n_series = sales.groupby(["sku_id", "channel"]).ngroups
    cfg = FAST.with_(
        local_models=("SeasonalNaive", "CrostonSBA", "TSB"),
        history=30,
        lgb_max_rows=30 * n_series,  # 30 periods per series
    )
    # first backtest cutoff minus the window and LightGBM's feature warm-up (lag 7 + 90)
    first_cutoff = sales["ds"].max() - pd.Timedelta(days=14 * cfg.n_windows)
    old = sales["ds"] <= first_cutoff - pd.Timedelta(days=30 + 97)
    assert old.mean() > 0.1
    changed = sales.assign(y=np.where(old, sales["y"] * 2, sales["y"]))
    a = DemandForecaster(cfg).fit(sales).cv_
    b = DemandForecaster(cfg).fit(changed).cv_
    models = ["SeasonalNaive", "CrostonSBA", "TSB_d0.1_p0.1", "LightGBM"]
    pd.testing.assert_frame_equal(a[["unique_id", "ds", *models]], b[["unique_id", "ds", *models]])
    full = DemandForecaster(cfg.with_(history=0, lgb_max_rows=None)).fit(changed).cv_
    for model in ("CrostonSBA", "LightGBM"):  # without the windows the old sales count
        assert not np.allclose(full[model], b[model])


def _poisson_levels(levels: list[float], n_days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_days)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "sku_id": f"{i:04d}",
                    "channel": "store",
                    "ds": dates,
                    "y": rng.poisson(lam, n_days),
                }
            )
            for i, lam in enumerate(levels)
        ],
        ignore_index=True,
    )


def test_direct_horizon_model_predicts_each_series_mean_over_the_horizon(tmp_path: Path) -> None:
    levels = [1.0, 4.0, 12.0, 30.0] * 4
    sales = _poisson_levels(levels, 300, seed=5)
    cfg = FAST.with_(local_models=("CrostonSBA",), lgb_n_estimators=150)
    model = DemandForecaster(cfg).fit(sales).fit_horizon_model(sales)
    assert model.lgb_horizon_ is not None and model.horizon_h_ == 14
    direct = model.predict_horizon(sales)
    assert len(direct) == len(levels)
    assert (direct["periods"] == 14).all() and (direct["days"] == 14.0).all()
    assert np.allclose(direct["forecast"], levels, rtol=0.15)
    qcols = ["forecast-lo-80", "forecast-median", "forecast-hi-80"]
    assert (np.diff(direct[qcols].to_numpy(), axis=1) >= 0).all()
    # saved with its own native file, same numbers after loading
    loaded = DemandForecaster.load(model.save(tmp_path / "m"))
    assert (tmp_path / "m" / "lightgbm_horizon.txt").exists()
    pd.testing.assert_frame_equal(loaded.predict_horizon(sales), direct)
    # another horizon than it was trained for: the mean of the recursive forecasts
    other = model.predict_horizon(sales, horizon=7)
    per_period = model.predict(sales, horizon=7).groupby(["sku_id", "channel"])["forecast"].mean()
    assert np.allclose(other["forecast"], per_period.to_numpy())
    assert (other["days"] == 7.0).all()


def test_forward_mean_is_the_mean_of_the_next_periods_within_a_series() -> None:
    from forecasting.demand.horizon import forward_mean

    ids = np.array([0, 0, 0, 0, 1, 1, 1])
    y = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0])
    got = forward_mean(ids, y, 2)
    expected = [1.5, 2.5, 3.5, np.nan, 15.0, 25.0, np.nan]
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(forward_mean(ids[:1], y[:1], 2)).all()


def test_direct_horizon_forecast_reads_no_period_after_the_end() -> None:
    """The direct model is applied to the features of the period one first lag (7 days)
    after the end, computed with placeholders for the periods in between: the same numbers
    as the features computed on the real demand of those periods."""
    import lightgbm as lgb

    from forecasting.demand.boosting import feature_columns, lgb_frame, make_mlf
    from forecasting.demand.horizon import predict_horizon_booster
    from forecasting.demand.panel import prepare_panel

    sales = _poisson_levels([1.0, 4.0, 12.0, 30.0] * 4, 307, seed=8)
    history = sales[sales["ds"] <= sales["ds"].min() + pd.Timedelta(days=299)]
    cfg = FAST.with_(local_models=("CrostonSBA",), lgb_n_estimators=150)
    model = DemandForecaster(cfg).fit(history).fit_horizon_model(history)
    assert model.lgb_horizon_ is not None
    panel, _, _ = prepare_panel(history, cfg)
    got = predict_horizon_booster(panel, model.lgb_horizon_, cfg, model.exog_, model.statics_)
    full, _, _ = prepare_panel(sales, cfg)  # 7 more days of real demand
    mlf = make_mlf(cfg)
    prep = mlf.preprocess(
        lgb_frame(full, model.exog_, model.statics_), static_features=model.statics_
    )
    X = prep.loc[prep["ds"] == full["ds"].max(), feature_columns(mlf)]
    booster = lgb.Booster(model_str=model.lgb_horizon_.model_to_string())
    np.testing.assert_allclose(got["LightGBM"], np.clip(booster.predict(X), 0, None), rtol=1e-6)


def test_without_gives_a_new_forecaster_that_shares_no_learned_state(
    small: SyntheticData, fitted: DemandForecaster
) -> None:
    before = fitted.forecast()
    other = fitted.without(("AutoETS",))
    assert other is not fitted
    assert all("AutoETS" not in m for sel in other.selection_.values() for m in sel)
    for name in ("selection_", "series_offsets_", "class_offsets_", "cv_", "scales_"):
        assert getattr(other, name) is not getattr(fitted, name), name
    other.series_offsets_.iloc[:, -1] = 1e9  # changing the copy leaves the original alone
    other.selection_["smooth"] = ("CrostonSBA",)
    pd.testing.assert_frame_equal(fitted.forecast(), before)
