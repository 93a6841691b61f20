"""`PropensityModel`: P(a customer buys again in the N days after a cutoff).

Training stacks earlier cutoffs whose label windows end before the scoring cutoff, so the
model learns on the shape it will score. The most recent labelled cutoff is held out in
time and split by customer into an early-stopping part, a calibration part (isotonic,
fitted later in time than every training cutoff) and an evaluation part. BG/NBD is always
fitted beside it; its outputs are also features (stacking). On the held-out evaluation part
the calibrated model, the BG/NBD baseline and their average are compared by log loss and
the best is used for scoring ("model", "blend" or "bgnbd"); with too little history for a
labelled cutoff, BG/NBD alone scores every customer.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forecasting.configs import config_from_dict, config_to_dict, lgb_threads
from forecasting.data.contracts import TRANSACTIONS, validate
from forecasting.errors import ForecastingError, LabelOverlapWarning, ShortHistoryWarning
from forecasting.periods import read_training_period, training_period
from forecasting.propensity.bgnbd import BGNBD, BGNBDParams, rfm_summary
from forecasting.propensity.features import customer_features, history_end, repurchase_labels

log = logging.getLogger(__name__)

BGNBD_FEATURES = ("bgnbd_p_alive", "bgnbd_p_any", "bgnbd_expected")


@dataclass(frozen=True)
class PropensityConfig:
    """How `PropensityModel` builds its training set and model."""

    horizon_days: int = 90
    n_train_cutoffs: int = 4  # earlier cutoffs stacked for training
    cutoff_step_days: int | None = None  # default: the horizon (label windows do not overlap)
    min_history_days: int = 60  # a cutoff needs this much history before it
    min_customers: int = 200  # fewer labelled customers: BG/NBD only
    n_estimators: int = 1000
    learning_rate: float = 0.03
    num_leaves: int = 7
    min_child_samples: int = 100
    early_stopping_rounds: int = 50
    # shares of the held-out customers: early stopping, calibration, the choice among model,
    # BG/NBD and blend, and the report (metrics on customers nothing was chosen on)
    holdout_split: tuple[float, ...] = (0.3, 0.25, 0.2, 0.25)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError("horizon_days must be >= 1")
        if self.n_train_cutoffs < 1:
            raise ValueError("n_train_cutoffs must be >= 1")
        if self.cutoff_step_days is not None and self.cutoff_step_days < 1:
            raise ValueError("cutoff_step_days must be >= 1")
        split = self.holdout_split
        if len(split) != 4 or min(split) <= 0 or abs(sum(split) - 1) > 1e-9:
            raise ValueError(
                "holdout_split is four positive shares summing to 1: early stopping, "
                "calibration, strategy choice, report"
            )

    @property
    def step(self) -> int:
        return self.cutoff_step_days or self.horizon_days

    def with_(self, **changes: Any) -> PropensityConfig:
        return replace(self, **changes)


DEFAULT_CONFIG = PropensityConfig()


def train_cutoffs(latest: pd.Timestamp, cfg: PropensityConfig) -> list[pd.Timestamp]:
    """The training cutoffs before the held-out one (``latest``), newest first: the first a
    whole horizon before it, so no training label window reaches into the held-out window,
    then ``cfg.step`` days apart. A step shorter than the horizon makes the training label
    windows overlap each other, which a `LabelOverlapWarning` says."""
    if cfg.step < cfg.horizon_days:
        warnings.warn(
            f"cutoff_step_days {cfg.step} < horizon_days {cfg.horizon_days}: the training "
            "cutoffs' label windows overlap each other; the first training cutoff is kept "
            f"{cfg.horizon_days} days before the held-out one, so none reaches its window",
            LabelOverlapWarning,
            stacklevel=4,
        )
    first = latest - pd.Timedelta(days=max(cfg.step, cfg.horizon_days))
    return [first - pd.Timedelta(days=cfg.step * k) for k in range(cfg.n_train_cutoffs)]


class PropensityModel(BaseEstimator):
    """Repurchase propensity per customer at a cutoff (scikit-learn's estimator contract:
    the configuration is the one parameter, learned state ends in ``_``)."""

    # fitted: the first and last day of the training data (None: not recorded)
    data_start_: pd.Timestamp | None
    data_end_: pd.Timestamp | None

    def __init__(self, config: PropensityConfig = DEFAULT_CONFIG) -> None:
        self.config = config

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``{"config": ...}``; with ``deep`` also every config field as ``config__name``."""
        params: dict[str, Any] = {"config": self.config}
        if deep:
            params.update({f"config__{k}": v for k, v in vars(self.config).items()})
        return params

    # --- public API --------------------------------------------------------------------------
    def fit(self, transactions: pd.DataFrame, cutoff: str | pd.Timestamp) -> PropensityModel:
        """Learn from the history up to ``cutoff`` (labels never look past it)."""
        tx = validate(transactions, TRANSACTIONS, "<transactions>")
        cutoff = pd.Timestamp(cutoff).normalize()
        if tx["ts"].min() >= history_end(cutoff):
            raise ForecastingError(f"no transaction on or before the cutoff {cutoff.date()}")
        self.data_start_ = tx["ts"].min().normalize()
        self.data_end_ = cutoff  # nothing after the cutoff day is read
        self._fit(tx, cutoff)
        return self

    def predict(self, transactions: pd.DataFrame, cutoff: str | pd.Timestamp) -> pd.DataFrame:
        """``customer_id, score`` for every customer with a purchase up to ``cutoff``, plus
        ``score_model`` and ``score_bgnbd``."""
        self._check_fitted()
        tx = validate(transactions, TRANSACTIONS, "<transactions>")
        cutoff = pd.Timestamp(cutoff).normalize()
        if tx["ts"].min() >= history_end(cutoff):
            raise ForecastingError(f"no transaction on or before the cutoff {cutoff.date()}")
        return self._predict(tx, cutoff)

    # --- computation -----------------------------------------------------------------------------
    def _fit(self, tx: pd.DataFrame, cutoff: pd.Timestamp) -> None:
        cfg = self.config
        start = tx["ts"].min().normalize()
        latest = cutoff - pd.Timedelta(
            days=cfg.horizon_days
        )  # last cutoff with a full label window
        cutoffs = [latest, *train_cutoffs(latest, cfg)]
        cutoffs = [c for c in cutoffs if c >= start + pd.Timedelta(days=cfg.min_history_days)]
        self.cutoff_ = cutoff
        self.train_cutoffs_ = [str(c.date()) for c in cutoffs[1:]]
        self.holdout_cutoff_ = str(cutoffs[0].date()) if cutoffs else None
        self.feature_names_: list[str] = []
        self.booster_: Any = None
        self.calibrator_: Any = None
        self.evaluation_: dict[str, Any] = {}
        if len(cutoffs) < 2:
            self._bgnbd_only("history too short for a labelled cutoff before the scoring cutoff")
            self.season_shift_ = 0.0
            return
        frames = [self._labelled(tx, c) for c in cutoffs]
        holdout, train = frames[0], pd.concat(frames[1:], ignore_index=True)
        if len(train) < cfg.min_customers or train["label"].nunique() < 2:
            self._bgnbd_only(f"{len(train)} labelled customer-cutoffs, need {cfg.min_customers}")
            self.season_shift_ = 0.0
            return
        rng = np.random.default_rng(cfg.seed)
        part = rng.choice(4, size=len(holdout), p=list(cfg.holdout_split))
        stop, calib, choose, report = (holdout[part == i] for i in range(4))
        self.feature_names_ = [
            c for c in train.columns if c not in ("customer_id", "label", "cutoff")
        ]
        self.booster_ = self._fit_lgb(train, stop)
        raw_calib = self._raw(calib)
        from sklearn.isotonic import IsotonicRegression

        self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
        self.calibrator_.fit(raw_calib, calib["label"].to_numpy())
        self.base_rate_holdout_ = float(holdout["label"].mean())
        self.evaluation_ = self._choose(choose)
        self.holdout_scores_ = self._scores(report)
        self.season_shift_ = self._season_shift(tx, cutoff, cutoffs[0], start)
        self.n_train_rows_ = len(train)

    def _labelled(self, tx: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
        feats = self._features(tx, cutoff)
        labels = repurchase_labels(tx, cutoff, self.config.horizon_days)
        feats["label"] = labels.reindex(feats.index).fillna(0).astype("int8").to_numpy()
        feats["cutoff"] = cutoff
        return feats.reset_index()

    def _features(self, tx: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
        feats = customer_features(tx, cutoff, self.config.horizon_days)
        rfm = rfm_summary(tx, cutoff).reindex(feats.index)
        bg = BGNBD(seed=self.config.seed).fit(*_rfm_arrays(rfm))
        h = self.config.horizon_days
        feats["bgnbd_p_alive"] = bg.p_alive(*_rfm_arrays(rfm))
        feats["bgnbd_p_any"] = bg.p_any_purchase(h, *_rfm_arrays(rfm))
        feats["bgnbd_expected"] = bg.expected_purchases(h, *_rfm_arrays(rfm))
        return feats

    def _fit_lgb(self, train: pd.DataFrame, stop: pd.DataFrame) -> Any:
        import lightgbm as lgb

        cfg = self.config
        params = {
            "objective": "binary",
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_child_samples": cfg.min_child_samples,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "feature_fraction": 0.8,
            "seed": cfg.seed,
            "num_threads": lgb_threads(2),
            "verbose": -1,
        }
        data = lgb.Dataset(train[self.feature_names_], train["label"])
        valid: list[Any] = []
        callbacks: list[Any] = []
        if stop["label"].nunique() == 2:
            valid = [lgb.Dataset(stop[self.feature_names_], stop["label"], reference=data)]
            callbacks = [lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)]
        booster = lgb.train(params, data, cfg.n_estimators, valid_sets=valid, callbacks=callbacks)
        self.best_iteration_ = int(booster.best_iteration or cfg.n_estimators)
        if booster.best_iteration:
            booster = booster.model_from_string(
                booster.model_to_string(num_iteration=booster.best_iteration)
            )
        return booster

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        threads = lgb_threads(2)
        return np.asarray(self.booster_.predict(frame[self.feature_names_], num_threads=threads))

    def _calibrated(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.calibrator_.predict(self._raw(frame)))

    def _scores(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``customer_id, label`` and the model's, BG/NBD's and the blend's scores."""
        model = self._calibrated(frame)
        bgnbd = frame["bgnbd_p_any"].to_numpy()
        return pd.DataFrame(
            {
                "customer_id": frame["customer_id"].to_numpy(),
                "label": frame["label"].to_numpy(),
                "model": model,
                "bgnbd": bgnbd,
                "blend": (model + bgnbd) / 2,
            }
        )

    def _choose(self, evaluate: pd.DataFrame) -> dict[str, Any]:
        """Model, BG/NBD or their average: the lowest log loss on the held-out customers of
        the choice part (the reported metrics use another part, `holdout_scores_`)."""
        from sklearn.metrics import log_loss, roc_auc_score

        frame = self._scores(evaluate)
        self.choice_customers_ = frame["customer_id"].to_numpy()
        y = frame["label"].to_numpy()
        scores = {k: frame[k].to_numpy() for k in ("model", "bgnbd", "blend")}
        losses = {
            k: float(log_loss(y, np.clip(v, 1e-6, 1 - 1e-6), labels=[0, 1]))
            for k, v in scores.items()
        }
        self.strategy_ = min(losses, key=lambda k: losses[k])
        result: dict[str, Any] = {
            "log_loss": losses,
            "n_customers": len(y),
            "strategy": self.strategy_,
        }
        if len(np.unique(y)) == 2:
            result["auc"] = {k: float(roc_auc_score(y, v)) for k, v in scores.items()}
        return result

    def _season_shift(
        self, tx: pd.DataFrame, cutoff: pd.Timestamp, holdout: pd.Timestamp, start: pd.Timestamp
    ) -> float:
        """Log-odds shift of the base rate from the holdout's season to the scoring season.

        BG/NBD has no seasons, and the model's calibration happens at the holdout cutoff, a
        horizon before the scoring cutoff. One year earlier both seasons were labelled: the
        difference of their base rates' log-odds moves BG/NBD's probabilities to the scoring
        season (the model itself sees the cutoff's month). 0 when the history is shorter.
        """
        year = pd.Timedelta(days=364)  # 52 weeks: same weekdays
        then_score, then_hold = cutoff - year, holdout - year
        if then_score + pd.Timedelta(days=self.config.horizon_days) > cutoff:
            return 0.0  # a year earlier, that label window would read past the cutoff
        if then_hold < start + pd.Timedelta(days=self.config.min_history_days):
            return 0.0
        rates = []
        for c in (then_score, then_hold):
            known = customer_features(tx, c).index
            bought = repurchase_labels(tx, c, self.config.horizon_days).reindex(known).fillna(0)
            rates.append(float(np.clip(bought.mean(), 1e-4, 1 - 1e-4)))
        return float(_logit(rates[0]) - _logit(rates[1]))

    def _bgnbd_only(self, why: str) -> None:
        warnings.warn(f"{why}: scoring with BG/NBD alone", ShortHistoryWarning, stacklevel=4)
        self.strategy_ = "bgnbd"
        self.reason_ = why

    def _predict(self, tx: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
        feats = self._features(tx, cutoff)
        p_bg = feats["bgnbd_p_any"].to_numpy()
        shift = getattr(self, "season_shift_", 0.0)
        if shift:  # BG/NBD is stationary: move it to the scoring cutoff's season
            p_bg = 1.0 / (1.0 + np.exp(-(_logit(p_bg) + shift)))
        if self.booster_ is not None:
            p_model = self._calibrated(feats.reset_index())
        else:
            p_model = np.full(len(feats), np.nan)
        if self.strategy_ == "model":
            score = p_model
        elif self.strategy_ == "blend":
            score = (p_model + p_bg) / 2
        else:
            score = p_bg
        return pd.DataFrame(
            {
                "customer_id": feats.index.to_numpy(),
                "score": score,
                "score_model": p_model,
                "score_bgnbd": p_bg,
            }
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "strategy_"):
            raise ForecastingError("call fit() (or PropensityModel.load) before predict()")

    # --- persistence -----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Config and state as JSON, LightGBM as its native file, isotonic map as Parquet."""
        self._check_fitted()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        state = {
            "config": config_to_dict(self.config),
            "strategy": self.strategy_,
            "feature_names": self.feature_names_,
            "cutoff": str(self.cutoff_.date()),
            "evaluation": self.evaluation_,
            "season_shift": getattr(self, "season_shift_", 0.0),
            "data": training_period(self),
        }
        (out / "state.json").write_text(json.dumps(state, indent=2, default=str))
        if self.booster_ is not None:
            self.booster_.save_model(str(out / "lightgbm.txt"))
            iso = self.calibrator_
            pd.DataFrame({"x": iso.X_thresholds_, "y": iso.y_thresholds_}).to_parquet(
                out / "calibration.parquet", index=False
            )
        return out

    @classmethod
    def load(cls, folder: str | Path) -> PropensityModel:
        import lightgbm as lgb
        from sklearn.isotonic import IsotonicRegression

        src = Path(folder)
        state = json.loads((src / "state.json").read_text())
        raw = dict(state["config"])
        if len(raw.get("holdout_split", ())) == 3:  # saved before the choice had its own part
            raw["holdout_split"] = DEFAULT_CONFIG.holdout_split
        self = cls(config_from_dict(PropensityConfig, raw))
        self.strategy_ = state["strategy"]
        self.feature_names_ = state["feature_names"]
        self.cutoff_ = pd.Timestamp(state["cutoff"])
        self.evaluation_ = state["evaluation"]
        self.season_shift_ = float(state["season_shift"])
        self.data_start_, self.data_end_ = read_training_period(state.get("data"))
        self.booster_ = None
        self.calibrator_ = None
        if (src / "lightgbm.txt").exists():
            self.booster_ = lgb.Booster(model_file=str(src / "lightgbm.txt"))
            table = pd.read_parquet(src / "calibration.parquet")
            iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
            iso.fit(table["x"].to_numpy(), table["y"].to_numpy())
            self.calibrator_ = iso
        return self


def _logit(p: Any) -> Any:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _rfm_arrays(rfm: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rfm["x"].to_numpy(), rfm["t_x"].to_numpy(), rfm["T"].to_numpy()


__all__ = ["BGNBDParams", "PropensityConfig", "PropensityModel"]
