"""LightGBM helpers shared by the boosted count models (:mod:`models.boosted`) and the LightGBM hazard
(:mod:`models.hazard`): time-ordered validation splits purged of overlapping target windows, parameters
from scikit-learn-style names, training, and TreeSHAP explanations.

Rows are district-weeks; a row's position is the index of its ``week_start`` among the sorted distinct weeks,
and a target of horizon h covers weeks position .. position + h - 1, so a training row within h - 1 weeks
before a held-out block would see held-out weeks: those rows are purged.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.design import feature_matrix


def week_positions(X: pd.DataFrame) -> np.ndarray:
    """Index of each row's week among the sorted distinct ``week_start`` values (row order if absent)."""
    if "week_start" not in X.columns:
        return np.arange(len(X))
    weeks = X["week_start"].to_numpy()
    return np.searchsorted(np.unique(weeks), weeks)


def time_holdout(positions: np.ndarray, holdout_weeks: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) masks: the last ``holdout_weeks`` weeks are held out, and training rows whose
    ``horizon``-week target window reaches into them are purged (train weeks < first held-out - (horizon - 1))."""
    n_weeks = int(positions.max()) + 1 if len(positions) else 0
    first = n_weeks - int(holdout_weeks)
    if first <= horizon:
        raise ValueError(f"cannot hold out {holdout_weeks} of {n_weeks} weeks with a {horizon}-week horizon")
    return positions < first - (horizon - 1), positions >= first


def blocked_folds(positions: np.ndarray, n_folds: int, horizon: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous week blocks as test folds; training rows within ``horizon - 1`` weeks of the block are purged."""
    n_weeks = int(positions.max()) + 1
    edges = np.linspace(0, n_weeks, n_folds + 1).round().astype(int)
    folds = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        test = (positions >= lo) & (positions < hi)
        train = (positions < lo - (horizon - 1)) | (positions >= hi + (horizon - 1))
        if test.any() and train.any():
            folds.append((train, test))
    return folds


def lgb_params(objective: str, *, num_leaves: int, learning_rate: float, min_child_samples: int, subsample: float,
               colsample_bytree: float, reg_lambda: float, seed: int, n_jobs: int = 0, **extra) -> dict:
    """LightGBM parameters from scikit-learn-style names (``n_jobs`` 0 = LightGBM's default thread count)."""
    params = {"objective": objective, "num_leaves": num_leaves, "learning_rate": learning_rate,
              "min_data_in_leaf": min_child_samples, "bagging_fraction": subsample,
              "bagging_freq": 1 if subsample < 1.0 else 0, "feature_fraction": colsample_bytree,
              "lambda_l2": reg_lambda, "seed": seed, "deterministic": True, "force_row_wise": True,
              "num_threads": n_jobs, "verbosity": -1}
    return params | extra


def train_booster(params: dict, Xm: np.ndarray, y: np.ndarray, features: list[str], n_estimators: int,
                  valid: tuple[np.ndarray, np.ndarray] | None = None, early_stopping_rounds: int = 30) -> lgb.Booster:
    """``n_estimators`` rounds on (Xm, y), or with ``valid`` = (X, y) held-out rows: stop after
    ``early_stopping_rounds`` rounds without improvement on them (``best_iteration`` is the best round)."""
    train = lgb.Dataset(Xm, label=y, feature_name=features, free_raw_data=True)
    if valid is None:
        return lgb.train(params, train, num_boost_round=n_estimators)
    dvalid = lgb.Dataset(valid[0], label=valid[1], reference=train)
    return lgb.train(params, train, num_boost_round=n_estimators, valid_sets=[dvalid],
                     callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)])


class BoosterExplanations:
    """Exact TreeSHAP contributions (on the booster's raw scale: log mean, or log-odds) and gain importance of
    a fitted LightGBM model holding ``booster_``, ``features_`` and ``n_rounds_``."""

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values per feature on the booster's raw scale, same index as X."""
        contrib = self.booster_.predict(feature_matrix(X, self.features_), pred_contrib=True,
                                        num_iteration=self.n_rounds_)
        return pd.DataFrame(contrib[:, :-1], index=X.index, columns=self.features_)

    def feature_importance(self) -> pd.DataFrame:
        """Total gain per feature, largest first."""
        gain = self.booster_.feature_importance(importance_type="gain", iteration=self.n_rounds_)
        return (pd.DataFrame({"feature": self.features_, "gain": gain})
                .sort_values("gain", ascending=False, ignore_index=True))
