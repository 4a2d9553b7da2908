"""Boosted count models: violent events over the next ``horizon`` weeks from gradient-boosted trees, as an
NB2 distribution.

Rows are district-weeks (features from the weeks before ``week_start``); ``y`` is the count of violent events
in weeks ``week_start .. week_start + horizon - 1`` (``target_violent_events_h{horizon}``).

* :class:`LightGBMCount` - gradient-boosted log-mean (Poisson or Tweedie objective) with an NB2 dispersion
  fitted on out-of-sample rows.
* :class:`BoostedCount` - LightGBM corrections on top of a base count model (default
  :class:`models.self_exciting.SelfExcitingNB`).

Both read the catalog features their ``features`` selection designates (None: the whole catalog);
``contributions`` are TreeSHAP values on the log-mean scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.spec import FeatureSpec
from models.boosting import (
    BoosterExplanations,
    blocked_folds,
    lgb_params,
    time_holdout,
    train_booster,
    week_positions,
)
from models.design import (
    Selection,
    catalog_features,
    catalog_specs,
    feature_matrix,
    kept_rows,
    recency_weights,
    recent_rows,
    require_columns,
)
from models.distributions import NegativeBinomial
from models.nb2 import DEFAULT_ALPHA_GRID, ETA_MAX, ETA_MIN, crps_alpha, nb2_alpha_mle
from models.protocol import CountModel
from models.self_exciting import SelfExcitingNB


class LightGBMCount(BoosterExplanations, CountModel):
    """Gradient-boosted trees for the expected count over the horizon, with an NB2 dispersion on top.

    The trees fit log E[count] (objective "poisson", or "tweedie" with ``tweedie_variance_power``).
    Dispersion: NB2 alpha is fitted by maximum likelihood on rows the trees did not see, given the trees'
    means: the held-out weeks when ``valid_weeks`` is set, otherwise out-of-fold means from
    ``dispersion_folds`` contiguous week blocks (target windows overlapping a block are purged).
    ``dispersion="scalar"`` gives one alpha; ``"binned"`` fits alpha in ``dispersion_bins`` quantile bins of
    the log mean and interpolates log alpha linearly between the bins' median log means (constant beyond);
    ``"poisson"`` uses alpha = 0. Predicts NegativeBinomial(mu, alpha(mu)).

    Early stopping happens only with ``valid_weeks``: the last ``valid_weeks`` weeks are the validation
    set (training rows whose target window reaches them are purged); the model is then refitted on all
    rows with the best number of rounds. ``features`` is a selection resolved against ``catalog`` (None: every
    feature of the catalog, in catalog order); ``n_jobs`` is LightGBM's thread count (0 = its default).
    ``contributions`` are SHAP values (LightGBM ``pred_contrib``) on the log-mean scale; their row sum plus
    ``expected_log_mean_`` is the row's log mean.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (), features: Selection | None = None, *,
                 objective: str = "poisson", tweedie_variance_power: float = 1.5, num_leaves: int = 15,
                 learning_rate: float = 0.05,
                 n_estimators: int = 300, min_child_samples: int = 50, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, seed: int = 0,
                 valid_weeks: int | None = None, early_stopping_rounds: int = 30, dispersion: str = "scalar",
                 dispersion_bins: int = 5, dispersion_folds: int = 3, n_jobs: int = 0, name: str | None = None):
        if objective not in ("poisson", "tweedie"):
            raise ValueError(f"objective must be 'poisson' or 'tweedie', not {objective!r}")
        if dispersion not in ("scalar", "binned", "poisson"):
            raise ValueError(f"dispersion must be 'scalar', 'binned' or 'poisson', not {dispersion!r}")
        self.horizon = horizon
        self.requested_features, self.selection_notes = catalog_features(catalog, features)
        self.features_: list[str] | None = None
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power
        self.num_leaves, self.learning_rate, self.n_estimators = num_leaves, learning_rate, n_estimators
        self.min_child_samples, self.subsample, self.colsample_bytree = min_child_samples, subsample, colsample_bytree
        self.reg_lambda, self.seed = reg_lambda, seed
        self.valid_weeks, self.early_stopping_rounds = valid_weeks, early_stopping_rounds
        self.dispersion, self.dispersion_bins, self.dispersion_folds = dispersion, dispersion_bins, dispersion_folds
        self.n_jobs = n_jobs
        self.name = name or f"lgbm_{objective}"

    def _params(self) -> dict:
        extra = {"tweedie_variance_power": self.tweedie_variance_power} if self.objective == "tweedie" else {}
        return lgb_params(self.objective, num_leaves=self.num_leaves, learning_rate=self.learning_rate,
                          min_child_samples=self.min_child_samples, subsample=self.subsample,
                          colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda, seed=self.seed,
                          n_jobs=self.n_jobs, **extra)

    def input_columns(self) -> list[str]:
        """The features the trees read."""
        return list(self.features_ if self.features_ is not None else self.requested_features)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "LightGBMCount":
        y = np.asarray(y, dtype=np.float64)
        rows = np.isfinite(y) & (y >= 0)
        X, y = kept_rows(X, rows), y[rows]
        if not self.requested_features:
            raise KeyError("the feature selection found no feature in the catalog")
        require_columns(X, self.requested_features)
        self.features_ = list(self.requested_features)
        Xm = feature_matrix(X, self.features_)
        pos = week_positions(X)
        params = self._params()
        self.n_rounds_ = self.n_estimators
        if self.valid_weeks:
            tr, ho = time_holdout(pos, self.valid_weeks, self.horizon)
            booster = train_booster(params, Xm[tr], y[tr], self.features_, self.n_estimators,
                                    valid=(Xm[ho], y[ho]), early_stopping_rounds=self.early_stopping_rounds)
            self.n_rounds_ = max(int(booster.best_iteration or self.n_estimators), 1)
            held_y, held_mu = y[ho], booster.predict(Xm[ho], num_iteration=self.n_rounds_)
        elif self.dispersion != "poisson":
            held_y, held_mu = np.empty(0), np.empty(0)
            for tr, te in blocked_folds(pos, self.dispersion_folds, self.horizon):
                b = train_booster(params, Xm[tr], y[tr], self.features_, self.n_estimators)
                held_y, held_mu = np.r_[held_y, y[te]], np.r_[held_mu, b.predict(Xm[te])]
        else:
            held_y, held_mu = np.empty(0), np.empty(0)
        self.booster_ = train_booster(params, Xm, y, self.features_, self.n_rounds_)
        self._fit_dispersion(held_y, np.clip(held_mu, 1e-9, None))
        self.expected_log_mean_ = float(self.booster_.predict(Xm[:1], pred_contrib=True)[0, -1])
        return self

    def _fit_dispersion(self, y: np.ndarray, mu: np.ndarray) -> None:
        self.n_dispersion_rows_ = int(len(y))
        if self.dispersion == "poisson" or len(y) == 0:
            self.alpha_ = 0.0
            self.alpha_knots_ = (np.zeros(1), np.full(1, np.log(1e-8)))
            return
        self.alpha_ = nb2_alpha_mle(y, mu)
        if self.dispersion == "scalar":
            self.alpha_knots_ = (np.zeros(1), np.full(1, np.log(max(self.alpha_, 1e-8))))
            return
        log_mu = np.log(mu)
        edges = np.unique(np.quantile(log_mu, np.linspace(0, 1, self.dispersion_bins + 1)))
        which = np.clip(np.searchsorted(edges, log_mu, side="right") - 1, 0, max(len(edges) - 2, 0))
        centres, log_alphas = [], []
        for b in range(max(len(edges) - 1, 1)):
            sel = which == b
            if sel.sum() >= 20:
                centres.append(float(np.median(log_mu[sel])))
                log_alphas.append(np.log(max(nb2_alpha_mle(y[sel], mu[sel]), 1e-8)))
        if not centres:
            centres, log_alphas = [0.0], [np.log(max(self.alpha_, 1e-8))]
        self.alpha_knots_ = (np.asarray(centres), np.asarray(log_alphas))

    def alpha(self, mu: np.ndarray) -> np.ndarray:
        """NB2 dispersion for rows with mean ``mu`` (events over the horizon)."""
        if self.dispersion == "poisson" or self.alpha_ == 0.0:
            return np.zeros_like(np.asarray(mu, dtype=np.float64))
        centres, log_alphas = self.alpha_knots_
        return np.exp(np.interp(np.log(np.clip(mu, 1e-9, None)), centres, log_alphas))

    def predict_mean(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.predict(feature_matrix(X, self.features_), num_iteration=self.n_rounds_)

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        mu = self.predict_mean(X)
        return NegativeBinomial(mu, self.alpha(mu))


class BoostedCount(CountModel):
    """LightGBM corrections on top of a base count model: log mean = log base mean + f(X), f a small
    boosted ensemble (Poisson objective, LightGBM ``init_score`` = the base model's log mean), NB2 predictive.

    The base model (default :class:`SelfExcitingNB` on the same catalog) is fitted on the same rows first; the
    trees then learn multiplicative corrections from ``features`` (a selection resolved against ``catalog``;
    None = every feature of the catalog), shrunk by a small learning rate, few rounds, large leaves and an L2
    penalty, so with little signal the model stays at the base. Boosting from the base is what lets the trees follow a
    level of violence they never saw: on their own (:class:`LightGBMCount`) they predict within the range
    of the training targets and fell behind the escalation of 2016-2017 in the validation backtest.
    Rows can be recency-weighted (``half_life_weeks``). Dispersion as in :class:`SelfExcitingNB`
    ("crps" on the last ``dispersion_weeks`` training weeks, "ml", or a number).

    ``contributions`` are the base model's terms plus the trees' SHAP values (``pred_contrib``) per
    feature, summed where a feature is in both, and ``boosting_average`` (the trees' mean correction);
    their row sum plus ``expected_log_mean_`` is the log mean.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (), base: CountModel | None = None,
                 features: Selection | None = None, *, n_estimators: int = 100,
                 learning_rate: float = 0.03, num_leaves: int = 7, min_child_samples: int = 200,
                 subsample: float = 0.8, colsample_bytree: float = 0.5, reg_lambda: float = 10.0,
                 half_life_weeks: float | None = None, dispersion: str | float = "crps",
                 dispersion_weeks: int | None = 104, alpha_grid: Sequence[float] = DEFAULT_ALPHA_GRID, seed: int = 0,
                 n_jobs: int = 1, name: str = "lgbm_boost"):
        self.horizon = int(horizon)
        catalog = catalog_specs(catalog)
        self.base = base if base is not None else SelfExcitingNB(horizon, catalog)
        self.requested_features, self.selection_notes = catalog_features(catalog, features)
        self.features_: list[str] | None = None
        self.n_estimators, self.learning_rate, self.num_leaves = n_estimators, learning_rate, num_leaves
        self.min_child_samples, self.subsample, self.colsample_bytree = min_child_samples, subsample, colsample_bytree
        self.reg_lambda, self.half_life_weeks, self.seed, self.n_jobs = reg_lambda, half_life_weeks, seed, n_jobs
        self.dispersion, self.dispersion_weeks, self.alpha_grid = dispersion, dispersion_weeks, tuple(alpha_grid)
        self.name = name

    def input_columns(self) -> list[str]:
        """The base model's columns, then the trees' features."""
        trees = self.features_ if self.features_ is not None else self.requested_features
        return list(dict.fromkeys([*self.base.input_columns(), *trees]))

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "BoostedCount":
        y = np.asarray(y, dtype=np.float64)
        rows = np.isfinite(y) & (y >= 0)
        X, y = kept_rows(X, rows), y[rows]
        self.base.fit(X, y)
        if not self.requested_features:
            raise KeyError("the feature selection found no feature in the catalog")
        require_columns(X, self.requested_features)
        self.features_ = list(self.requested_features)
        offset = self.base.log_mean(X)
        params = lgb_params("poisson", num_leaves=self.num_leaves, learning_rate=self.learning_rate,
                            min_child_samples=self.min_child_samples, subsample=self.subsample,
                            colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda, seed=self.seed,
                            n_jobs=self.n_jobs)
        data = lgb.Dataset(feature_matrix(X, self.features_), label=y, weight=recency_weights(X, self.half_life_weeks),
                           init_score=offset, feature_name=self.features_, free_raw_data=True)
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        if self.dispersion == "ml":
            self.alpha_ = nb2_alpha_mle(y, self.predict_mean(X))
        elif self.dispersion == "crps":
            recent = recent_rows(X, self.dispersion_weeks)
            self.alpha_ = crps_alpha(y[recent], self.predict_mean(X[recent]), self.alpha_grid)
        else:
            self.alpha_ = float(self.dispersion)
        self.expected_log_mean_ = float(self.base.expected_log_mean_)
        return self

    def log_mean(self, X: pd.DataFrame) -> np.ndarray:
        boost = self.booster_.predict(feature_matrix(X, self.features_), raw_score=True)
        return np.clip(self.base.log_mean(X) + boost, ETA_MIN, ETA_MAX)

    def predict_mean(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(self.log_mean(X))

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        return NegativeBinomial(self.predict_mean(X), self.alpha_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """The base model's terms plus the trees' SHAP values per feature (summed where a feature is in both),
        and a last column ``boosting_average``: the trees' average correction (the same for every row)."""
        contrib = self.booster_.predict(feature_matrix(X, self.features_), pred_contrib=True)
        trees = pd.DataFrame(contrib[:, :-1], index=X.index, columns=self.features_)
        out = self.base.contributions(X).add(trees, fill_value=0.0)
        out = out[list(dict.fromkeys([*self.base.contributions(X.iloc[:0]).columns, *self.features_]))]
        out["boosting_average"] = contrib[:, -1]
        return out

    def feature_importance(self) -> pd.DataFrame:
        gain = self.booster_.feature_importance(importance_type="gain")
        return (pd.DataFrame({"feature": self.features_, "gain": gain})
                .sort_values("gain", ascending=False, ignore_index=True))
