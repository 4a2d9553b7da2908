"""Hazard models: the probability of a major attack within the next ``horizon`` weeks.

Rows are district-weeks (features from the weeks before ``week_start``); ``predict_proba(X)`` is
P(at least one major attack in weeks ``week_start .. week_start + horizon - 1``), one value per row.

* :class:`DiscreteTimeHazard` - a binomial GLM of the *weekly* hazard (cloglog or logit link) with
  duration terms, rolled forward week by week along the survival path to the horizon.
* :class:`SelfExcitingHazard` - P(within H weeks) = 1 - exp(-H (c + sum_j w_j r_j)): a cumulative hazard
  that adds up recent rates of major attacks and violent events, the district's and its neighbours'.
* :class:`LightGBMHazard` - a direct per-horizon LightGBM classifier of "major attack within H weeks",
  optionally recalibrated (isotonic or Platt) on held-out, time-ordered weeks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.count import (
    RequestedFeatures,
    BoosterExplanations,
    LinearDesign,
    additive_log_terms,
    rate_divisor,
    recency_weights,
    feature_matrix,
    lgb_params,
    log_feature_names,
    numeric_feature_columns,
    select_features,
    time_holdout,
    train_booster,
    week_positions,
)

#: Default design of :class:`DiscreteTimeHazard`; with ``features=None`` absent columns are skipped.
DEFAULT_HAZARD_FEATURES = [
    "violent_events_sum_w4",
    "violent_events_sum_w52",
    "major_attacks_sum_w13",
    "major_attacks_sum_w52",
    "fatalities_ewm_hl4",
    "weeks_since_major_attacks",
    "weeks_since_violent_events",
    "nbr_major_attacks_sum_w13",
    "ff_base_closed_w13",
    "season_sin",
    "season_cos",
]

#: Durations (weeks since the last event, 1 = the week just before week_start) given a log-duration basis.
DEFAULT_DURATION_FEATURES = ("weeks_since_major_attacks", "weeks_since_violent_events")
#: Durations that grow by one week per week along the survival path (no major attack meanwhile).
DEFAULT_ADVANCED_DURATIONS = ("weeks_since_major_attacks",)
#: The features' cap on durations (features.attacks.WEEKS_SINCE_CAP): advanced durations stop there.
DURATION_CAP = 104


class DiscreteTimeHazard(RequestedFeatures):
    """Discrete-time hazard: a binomial GLM of "a major attack in week t" on the district's history.

    Fitted on one-week rows (``event`` = ``target_major_attack_h1``: 1 if the week starting at
    ``week_start`` has a major attack). The weekly hazard is h = g^-1(x'beta), g the ``link`` ("cloglog",
    the grouped-time proportional-hazards model, or "logit"). Each duration feature (weeks since the last
    event) enters as log1p(w) plus hinge terms max(0, log1p(w) - log1p(k)) at ``duration_knots`` (weeks):
    a piecewise-linear curve in log duration. Other counts enter as log1p, then all terms are standardised.

    The probability within ``horizon`` weeks follows the survival path: week k = 0 .. H-1 after the row's
    ``week_start`` is reached only if no major attack happened in weeks 0 .. k-1, so the durations in
    ``advance`` grow to w + k (capped at ``duration_cap``), other covariates staying at the row's values:
    P(within H) = 1 - prod_k (1 - h_k). ``weeks_since_violent_events`` is not advanced by default: a week
    without a major attack may still have violent events.

    ``contributions`` are the exact per-feature terms of the week-0 linear predictor (link scale),
    relative to the training average; a duration feature's basis terms are summed into one column.
    """

    def __init__(self, horizon: int, features: list[str] | None = None, link: str = "cloglog",
                 name: str | None = None, *, duration_features: tuple[str, ...] = DEFAULT_DURATION_FEATURES,
                 advance: tuple[str, ...] = DEFAULT_ADVANCED_DURATIONS, duration_knots: tuple[float, ...] = (4, 13, 52),
                 duration_cap: float = DURATION_CAP, min_variation: int = 5):
        if link not in ("cloglog", "logit"):
            raise ValueError(f"link must be 'cloglog' or 'logit', not {link!r}")
        self.horizon = horizon
        self.requested_features = list(features or DEFAULT_HAZARD_FEATURES)
        self.link = link
        self.name = name or f"hazard_{link}"
        self.duration_features = tuple(duration_features)
        self.advance = tuple(advance)
        self.duration_knots = tuple(duration_knots)
        self.duration_cap = float(duration_cap)
        self.min_variation = int(min_variation)
        self._explicit = features is not None

    def _family(self):
        link = sm.families.links.Logit() if self.link == "logit" else sm.families.links.CLogLog()
        return sm.families.Binomial(link=link)

    def _inverse_link(self, eta: np.ndarray) -> np.ndarray:
        eta = np.clip(eta, -30.0, 30.0)
        return special.expit(eta) if self.link == "logit" else -np.expm1(-np.exp(eta))

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "DiscreteTimeHazard":
        event = np.asarray(event, dtype=np.float64)
        req = self.requested_features
        used, notes = select_features(X, req if self._explicit else None, req)
        rows = np.isfinite(event)
        Xf, ef = X[rows], (event[rows] > 0).astype(np.float64)
        counts = [f for f in log_feature_names(used) if f not in self.duration_features]
        self.design_ = LinearDesign(used, counts, duration_features=self.duration_features,
                                    duration_knots=self.duration_knots, min_variation=self.min_variation).fit(Xf)
        self.features_ = self.design_.features_
        self.advanced_ = [f for f in self.advance if f in self.features_]
        self.notes_ = notes + self.design_.notes_
        D = self.design_.transform(Xf)
        start = np.zeros(D.shape[1])
        rate = float(np.clip(ef.mean(), 1e-6, 1 - 1e-6))
        start[0] = np.log(-np.log1p(-rate)) if self.link == "cloglog" else special.logit(rate)
        glm = sm.GLM(ef, D, family=self._family())
        # IRLS from statsmodels' own start (IRLS from an intercept-only start can diverge under cloglog),
        # then Newton and L-BFGS from the intercept-only start; the first converged fit wins, else the best.
        best = None
        for method in ("irls", "newton", "lbfgs"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = glm.fit(method=method, maxiter=200, **({} if method == "irls" else {"start_params": start}))
                    llf = float(res.llf)
            except Exception:  # noqa: BLE001 - separation or overflow: try the next optimiser
                continue
            if not (np.all(np.isfinite(res.params)) and np.isfinite(llf)):
                continue
            converged = bool(getattr(res, "converged", True))
            if best is None or (converged, llf) > (best[2], best[3]):
                best = (res, method, converged, llf)
            if converged:
                break
        if best is None:
            raise RuntimeError("the discrete-time hazard GLM failed with every optimiser")
        result, self.fit_method_ = best[0], best[1]
        self.params_ = np.asarray(result.params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.bse_ = np.asarray(result.bse)
        self.converged_ = best[2]
        self.llf_ = best[3]
        self.aic_ = float(-2.0 * self.llf_ + 2.0 * len(self.params_))
        self.n_obs_, self.n_events_ = int(len(ef)), int(ef.sum())
        return self

    def weekly_hazard(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of a major attack in the week starting at ``week_start`` (week 0 of the path)."""
        return self._inverse_link(self.design_.transform(X) @ self.params_)

    def path_hazards(self, X: pd.DataFrame) -> np.ndarray:
        """Weekly hazards h_k (rows x horizon) for weeks k = 0 .. horizon-1, given no major attack before week k."""
        base = {f: feature_matrix(X, [f])[:, 0] for f in self.advanced_}
        out = np.empty((len(X), self.horizon))
        for k in range(self.horizon):
            overrides = {f: np.where(np.isfinite(w), np.minimum(w + k, np.maximum(w, self.duration_cap)), w)
                         for f, w in base.items()}
            out[:, k] = self._inverse_link(self.design_.transform(X, overrides=overrides) @ self.params_)
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(at least one major attack within ``horizon`` weeks) = 1 - prod_k (1 - h_k)."""
        return -np.expm1(np.log1p(-np.clip(self.path_hazards(X), 0.0, 1.0 - 1e-15)).sum(axis=1))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature terms of the week-0 linear predictor (link scale, relative to the training average)."""
        z = self.design_.transform(X, intercept=False)
        return self.design_.collapse(z * self.params_[1:], X.index)

    def coefficients(self) -> pd.DataFrame:
        """Standardised coefficients on the link scale (duration hinge terms named ``feature:hingeK``)."""
        return pd.DataFrame({"term": ["intercept", *self.design_.terms_], "coef": self.params_, "std_err": self.bse_})


class LightGBMHazard(BoosterExplanations):
    """Direct per-horizon classifier: P(major attack within ``horizon`` weeks) by LightGBM (objective binary).

    ``event`` is ``target_major_attack_h{horizon}`` (1 if a major attack happens in weeks
    ``week_start .. week_start + horizon - 1``). ``features=None`` uses every numeric column of X except the
    keys and targets; ``n_jobs`` is LightGBM's thread count (0 = its default). With ``valid_weeks`` the last
    ``valid_weeks`` weeks are held out (training rows whose target window reaches them are purged): the
    trees stop early on them and, with ``calibration`` ("isotonic" or "platt"), a calibrator is fitted on
    the held-out predictions. With ``refit`` (default) the trees are then refitted on all rows with the
    chosen number of rounds and the calibrator is applied to their output (as scikit-learn's
    CalibratedClassifierCV(ensemble=False) does): the recent weeks inform the trees, at the price of a
    calibrator learnt on a slightly different model. ``refit=False`` keeps the trees that the calibrator saw.

    ``contributions`` are SHAP values (LightGBM ``pred_contrib``) of the uncalibrated log-odds; their row
    sum plus ``expected_log_odds_`` is the row's uncalibrated log-odds.
    """

    def __init__(self, horizon: int, features: list[str] | None = None, *, num_leaves: int = 15,
                 learning_rate: float = 0.05, n_estimators: int = 300, min_child_samples: int = 50,
                 subsample: float = 0.8, colsample_bytree: float = 0.8, reg_lambda: float = 1.0, seed: int = 0,
                 valid_weeks: int | None = None, early_stopping_rounds: int = 30, calibration: str | None = None,
                 refit: bool = True, n_jobs: int = 0, name: str | None = None):
        if calibration not in (None, "isotonic", "platt"):
            raise ValueError(f"calibration must be None, 'isotonic' or 'platt', not {calibration!r}")
        if calibration is not None and not valid_weeks:
            raise ValueError("calibration needs held-out weeks: set valid_weeks")
        self.horizon = horizon
        self.requested_features = None if features is None else list(features)
        self.num_leaves, self.learning_rate, self.n_estimators = num_leaves, learning_rate, n_estimators
        self.min_child_samples, self.subsample, self.colsample_bytree = min_child_samples, subsample, colsample_bytree
        self.reg_lambda, self.seed = reg_lambda, seed
        self.valid_weeks, self.early_stopping_rounds = valid_weeks, early_stopping_rounds
        self.calibration = calibration
        self.refit = refit
        self.n_jobs = n_jobs
        self.name = name or f"lgbm_hazard_h{horizon}"

    @property
    def features(self) -> list[str] | None:
        """The features the fitted model reads (before fitting: the requested list, None = all numeric)."""
        return getattr(self, "features_", self.requested_features)

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "LightGBMHazard":
        event = np.asarray(event, dtype=np.float64)
        rows = np.isfinite(event)
        X, e = X[rows], (event[rows] > 0).astype(np.float64)
        req = self.requested_features
        self.features_ = list(req) if req is not None else numeric_feature_columns(X)
        missing = [f for f in self.features_ if f not in X.columns]
        if missing:
            raise KeyError(f"feature columns missing from X: {missing}")
        Xm = feature_matrix(X, self.features_)
        params = lgb_params("binary", num_leaves=self.num_leaves, learning_rate=self.learning_rate,
                            min_child_samples=self.min_child_samples, subsample=self.subsample,
                            colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda, seed=self.seed,
                            n_jobs=self.n_jobs)
        self.n_rounds_, self.calibrator_, self.notes_ = self.n_estimators, None, []
        if self.valid_weeks:
            tr, ho = time_holdout(week_positions(X), self.valid_weeks, self.horizon)
            booster = train_booster(params, Xm[tr], e[tr], self.features_, self.n_estimators,
                                    valid=(Xm[ho], e[ho]), early_stopping_rounds=self.early_stopping_rounds)
            self.n_rounds_ = max(int(booster.best_iteration or self.n_estimators), 1)
            if self.calibration is not None:
                held = booster.predict(Xm[ho], num_iteration=self.n_rounds_)
                if 0 < e[ho].sum() < ho.sum():
                    self.calibrator_ = self._fit_calibrator(held, e[ho])
                else:
                    self.notes_.append("held-out weeks have a single class: calibration skipped")
            self.booster_ = booster
        if self.refit or not self.valid_weeks:
            self.booster_ = train_booster(params, Xm, e, self.features_, self.n_rounds_)
        self.expected_log_odds_ = float(self.booster_.predict(Xm[:1], pred_contrib=True)[0, -1])
        self.base_rate_ = float(e.mean())
        return self

    def _fit_calibrator(self, p: np.ndarray, e: np.ndarray):
        if self.calibration == "isotonic":
            return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, e)
        return LogisticRegression(C=1e6).fit(special.logit(np.clip(p, 1e-9, 1 - 1e-9))[:, None], e)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probability from the trees."""
        return self.booster_.predict(feature_matrix(X, self.features_), num_iteration=self.n_rounds_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(at least one major attack within ``horizon`` weeks), calibrated when a calibrator was fitted."""
        p = self.predict_raw(X)
        if self.calibrator_ is None:
            return p
        if self.calibration == "isotonic":
            return np.clip(self.calibrator_.predict(p), 0.0, 1.0)
        return self.calibrator_.predict_proba(special.logit(np.clip(p, 1e-9, 1 - 1e-9))[:, None])[:, 1]



#: Default rates of :class:`SelfExcitingHazard` (chosen on the validation origins 2016-01-04 .. 2017-12-25).
DEFAULT_HAZARD_RATES = [
    "major_attacks_sum_w13",
    "major_attacks_sum_w52",
    "major_attacks_ewm_hl4",
    "violent_events_ewm_hl4",
    "violent_events_ewm_hl13",
    "violent_events_sum_w52",
    "nbr_major_attacks_sum_w13",
    "nbr_major_attacks_sum_w52",
    "nbr_violent_events_sum_w13",
]


class SelfExcitingHazard:
    """Direct per-horizon hazard with an additive, self-exciting intensity.

    P(at least one major attack in the ``horizon`` weeks from week_start) = 1 - exp(-Lambda), with the
    cumulative hazard Lambda = horizon * (c + sum_j w_j r_j): r_j the ``rates`` (history features divided by
    :func:`models.count.rate_divisor`: events per week of major attacks and violent events, the district's
    own and its neighbours'), w_j >= 0 and c > 0 fitted by maximum Bernoulli likelihood on
    ``target_major_attack_h{horizon}`` (rows optionally recency-weighted, half-life ``half_life_weeks``).
    A quiet district keeps the background hazard c; past violence raises it linearly, so the model
    extrapolates to levels of violence it has not seen (trees cannot).

    ``contributions`` split log(Lambda) into exact additive terms relative to the training average (see
    :func:`models.count.additive_log_terms`); their row sum plus ``expected_log_hazard_`` is log Lambda.
    """

    def __init__(self, horizon: int, rates: list[str] | None = None, *, half_life_weeks: float | None = None,
                 maxiter: int = 3000, name: str = "hawkes_hazard"):
        self.horizon = int(horizon)
        self.requested_rates = None if rates is None else list(rates)
        self.half_life_weeks = half_life_weeks
        self.maxiter = int(maxiter)
        self.name = name

    @property
    def features(self) -> list[str]:
        return list(getattr(self, "rates_", self.requested_rates or DEFAULT_HAZARD_RATES))

    def _rates(self, X: pd.DataFrame) -> np.ndarray:
        R = feature_matrix(X, self.rates_) / self.divisors_
        return np.where(np.isfinite(R), np.clip(R, 0.0, None), 0.0)

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "SelfExcitingHazard":
        event = np.asarray(event, dtype=np.float64)
        rows = np.isfinite(event)
        X, e = X[rows], (event[rows] > 0).astype(np.float64)
        if len(e) == 0:
            raise ValueError("SelfExcitingHazard needs at least one training row")
        self.rates_, self.notes_ = select_features(X, self.requested_rates, DEFAULT_HAZARD_RATES)
        self.divisors_ = np.array([rate_divisor(f) for f in self.rates_])
        R = self._rates(X)
        wt = recency_weights(X, self.half_life_weeks)
        k, H, W = R.shape[1], float(self.horizon), float(wt.sum())

        def objective(theta):
            w, c = np.exp(theta[:k]), np.exp(theta[k])
            lam = H * (c + R @ w)
            q = np.exp(-lam)
            p = np.clip(-np.expm1(-lam), 1e-300, None)
            ll = e * np.log(p) - (1.0 - e) * lam
            d = wt * (e * q / p - (1.0 - e)) * H  # d ll / d (c + R w), weighted
            return -float(np.sum(wt * ll)) / W, np.r_[-(d @ R) * w / W, -np.sum(d) * c / W]

        rate = float(np.clip(np.average(e, weights=wt), 1e-6, 1 - 1e-6))
        theta0 = np.r_[np.full(k, np.log(0.1 / max(k, 1))), np.log(-np.log1p(-rate) / H / 2.0)]
        res = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=[(-20.0, 5.0)] * (k + 1),
                                options={"maxiter": self.maxiter})
        self.theta_, self.converged_ = res.x, bool(res.success)
        self.weights_, self.background_ = np.exp(res.x[:k]), float(np.exp(res.x[k]))
        self.rate_mean_ = R.mean(axis=0)
        self.expected_log_hazard_ = float(np.log(H * (self.background_ + self.rate_mean_ @ self.weights_)))
        self.base_rate_ = float(e.mean())
        self.n_obs_ = int(len(e))
        return self

    def cumulative_hazard(self, X: pd.DataFrame) -> np.ndarray:
        return self.horizon * (self.background_ + self._rates(X) @ self.weights_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return -np.expm1(-self.cumulative_hazard(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact additive terms of log(cumulative hazard) relative to ``expected_log_hazard_``."""
        return additive_log_terms(self._rates(X), self.weights_, self.background_, self.rate_mean_, X.index,
                                  self.rates_)

    def coefficients(self) -> pd.DataFrame:
        return pd.DataFrame({"term": [*self.rates_, "background"], "coef": [*self.weights_, self.background_]})
