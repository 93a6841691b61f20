"""A fitted `DemandForecaster` on disk: lean artifacts, no pickles and no training data.

``config.json`` (the `DemandConfig`), ``selection.json`` (per-class selection, candidates,
features), ``series_quantiles.parquet`` and ``class_quantiles.parquet`` (the quantile
offsets), ``lightgbm.txt`` (the recursive LightGBM's native booster) and, when fitted,
``lightgbm_horizon.txt`` with ``horizon.json`` (the direct horizon model) and
``calendar.parquet`` (the calendar it was given, validated).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecasting.configs import config_from_json, config_to_json
from forecasting.demand.config import DemandConfig
from forecasting.demand.covariates import read_calendar
from forecasting.periods import read_training_period, training_period

if TYPE_CHECKING:
    from forecasting.demand.forecaster import DemandForecaster


def save(model: Any, folder: str | Path) -> Path:
    """Write the fitted ``model`` to ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config_to_json(model.config))
    selection = {
        "selection": {k: list(v) for k, v in model.selection_.items()},
        "candidates": list(model.candidates_),
        "exog": list(model.exog_),
        "statics": list(model.statics_),
        "data": training_period(model),
        "planned": bool(getattr(model, "planned_", False)),
    }
    (out / "selection.json").write_text(json.dumps(selection, indent=2))
    model.series_offsets_.to_parquet(out / "series_quantiles.parquet", index=False)
    model.class_offsets_.to_parquet(out / "class_quantiles.parquet", index=False)
    calendar = getattr(model, "calendar_", None)
    if calendar is not None and calendar.raw is not None:
        calendar.raw.to_parquet(out / "calendar.parquet", index=False)
    booster = model._booster()
    if booster is not None:
        booster.save_model(str(out / "lightgbm.txt"))
    if getattr(model, "lgb_horizon_", None) is not None:
        model.lgb_horizon_.save_model(str(out / "lightgbm_horizon.txt"))
        (out / "horizon.json").write_text(json.dumps({"horizon": model.horizon_h_}))
    return out


def load(model: DemandForecaster, folder: str | Path) -> DemandForecaster:
    """Fill the unfitted ``model`` with the forecaster saved in ``folder``."""
    import lightgbm as lgb

    src = Path(folder)
    model.set_params(config=config_from_json(DemandConfig, (src / "config.json").read_text()))
    selection = json.loads((src / "selection.json").read_text())
    model.selection_ = {k: tuple(v) for k, v in selection["selection"].items()}
    model.candidates_ = list(selection["candidates"])
    model.exog_ = list(selection["exog"])
    model.statics_ = list(selection["statics"])
    model.data_start_, model.data_end_ = read_training_period(selection.get("data"))
    model.planned_, model.plan_ = bool(selection.get("planned", False)), None
    calendar_file = src / "calendar.parquet"
    model.calendar_ = (
        read_calendar(pd.read_parquet(calendar_file), model.config, "<the model's calendar>")
        if calendar_file.exists()
        else None
    )
    model.series_offsets_ = pd.read_parquet(src / "series_quantiles.parquet")
    model.class_offsets_ = pd.read_parquet(src / "class_quantiles.parquet")
    booster_file = src / "lightgbm.txt"
    model.lgb_booster_ = (
        lgb.Booster(model_file=str(booster_file)) if booster_file.exists() else None
    )
    model.lgb_ = None
    model.lgb_horizon_, model.horizon_h_ = None, None
    horizon_file = src / "lightgbm_horizon.txt"
    if horizon_file.exists():
        model.lgb_horizon_ = lgb.Booster(model_file=str(horizon_file))
        model.horizon_h_ = int(json.loads((src / "horizon.json").read_text())["horizon"])
    return model
