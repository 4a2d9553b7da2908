"""Hazard models: the probability of a major attack within the next ``horizon`` weeks.

Rows are district-weeks (features from the weeks before ``week_start``); ``predict_proba(X)`` is
P(at least one major attack in weeks ``week_start .. week_start + horizon - 1``), one value per row.

* :class:`DiscreteTimeHazard` - a binomial GLM of the *weekly* hazard (cloglog or logit link) with
  duration terms, rolled forward week by week along the survival path to the horizon.
* :class:`LightGBMHazard` - a direct per-horizon LightGBM classifier of "major attack within H weeks",
  optionally recalibrated (isotonic or Platt) on held-out, time-ordered weeks.

The self-exciting hazard (P(within H weeks) = 1 - exp(-H (c + sum_j w_j r_j))) is
:class:`models.self_exciting.SelfExcitingHazard`. Features come from the catalog through selections
(:mod:`models.design`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import special
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.attacks import WEEKS_SINCE_CAP
from features.forces import FAMILY_PRESENCE
from features.spec import AnyOf, FeatureSpec, Select
from models.boosting import (
    BoosterExplanations,
    lgb_params,
    time_holdout,
    train_booster,
    week_positions,
)
from models.design import (
    LinearDesign,
    SelectedFeatures,
    Selection,
    catalog_features,
    feature_matrix,
    kept_rows,
    log_features,
    require_columns,
    resolve_features,
)
from models.protocol import HazardModel

#: Default design of :class:`DiscreteTimeHazard` (in this order); selectors the catalog lacks are left out.
DEFAULT_HAZARD_FEATURES: tuple[Select, ...] = (
    Select(measure="violent_events", scope="own", statistic="sum", windows=4),
    Select(measure="violent_events", scope="own", statistic="sum", windows=52),
    Select(measure="major_attacks", scope="own", statistic="sum", windows=13),
    Select(measure="major_attacks", scope="own", statistic="sum", windows=52),
    Select(measure="fatalities", scope="own", statistic="ewm", half_lives=4),
    Select(measure="major_attacks", scope="own", statistic="weeks_since"),
    Select(measure="violent_events", scope="own", statistic="weeks_since"),
    Select(measure="major_attacks", scope="neighbours", statistic="sum", windows=13),
    Select(family=FAMILY_PRESENCE, measure="any_force_departures", statistic="any", windows=13),
    Select(family="seasonality", statistic="sin"),
    Select(family="seasonality", statistic="cos"),
)

#: Durations (weeks since the last event, 1 = the week just before week_start) given a log-duration basis.
DEFAULT_DURATION_FEATURES: Select | AnyOf = Select(statistic="weeks_since")
#: Durations that grow by one week per week along the survival path (no major attack meanwhile).
DEFAULT_ADVANCED_DURATIONS: Select | AnyOf = Select(measure="major_attacks", scope="own", statistic="weeks_since")


class DiscreteTimeHazard(SelectedFeatures, HazardModel):
    """Discrete-time hazard: a binomial GLM of "a major attack in week t" on the district's history.

    Fitted on one-week rows (``event`` = ``target_major_attack_h1``: 1 if the week starting at
    ``week_start`` has a major attack). The weekly hazard is h = g^-1(x'beta), g the ``link`` ("cloglog",
    the grouped-time proportional-hazards model, or "logit"). ``features`` is a selection resolved against
    ``catalog`` (default :data:`DEFAULT_HAZARD_FEATURES`). Each duration feature (the features that
    ``duration_features`` matches: weeks since the last event) enters as log1p(w) plus hinge terms
    max(0, log1p(w) - log1p(k)) at ``duration_knots`` (weeks): a piecewise-linear curve in log duration.
    Other counts enter as log1p, then all terms are standardised.

    The probability within ``horizon`` weeks follows the survival path: week k = 0 .. H-1 after the row's
    ``week_start`` is reached only if no major attack happened in weeks 0 .. k-1, so the durations that
    ``advance`` matches grow to w + k (capped at ``duration_cap``, the features' cap
    :data:`features.attacks.WEEKS_SINCE_CAP`), other covariates staying at the row's values:
    P(within H) = 1 - prod_k (1 - h_k). ``weeks_since_violent_events`` is not advanced by default: a week
    without a major attack may still have violent events.

    ``contributions`` are the exact per-feature terms of the week-0 linear predictor (link scale),
    relative to the training average; a duration feature's basis terms are summed into one column.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (),
                 features: Selection = DEFAULT_HAZARD_FEATURES, link: str = "cloglog", name: str | None = None, *,
                 duration_features: Select | AnyOf = DEFAULT_DURATION_FEATURES,
                 advance: Select | AnyOf = DEFAULT_ADVANCED_DURATIONS, duration_knots: tuple[float, ...] = (4, 13, 52),
                 duration_cap: float = WEEKS_SINCE_CAP, min_variation: int = 5):
        if link not in ("cloglog", "logit"):
            raise ValueError(f"link must be 'cloglog' or 'logit', not {link!r}")
        self.horizon = horizon
        self.requested_features, self.selection_notes = resolve_features(features, catalog)
        self.link = link
        self.name = name or f"hazard_{link}"
        self.duration_features = [s.name for s in self.requested_features if duration_features.matches(s)]
        self.advance = [s.name for s in self.requested_features if advance.matches(s)]
        self.duration_knots = tuple(duration_knots)
        self.duration_cap = float(duration_cap)
        self.min_variation = int(min_variation)
        self.features_: list[str] | None = None

    def _family(self):
        import statsmodels.api as sm  # imported by the fits that use it, not by every command

        link = sm.families.links.Logit() if self.link == "logit" else sm.families.links.CLogLog()
        return sm.families.Binomial(link=link)

    def _inverse_link(self, eta: np.ndarray) -> np.ndarray:
        eta = np.clip(eta, -30.0, 30.0)
        return special.expit(eta) if self.link == "logit" else -np.expm1(-np.exp(eta))

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "DiscreteTimeHazard":
        event = np.asarray(event, dtype=np.float64)
        used = [s.name for s in self.requested_features]
        if not used:
            raise KeyError("the feature selection found no feature in the catalog")
        require_columns(X, used)
        rows = np.isfinite(event)
        Xf, ef = kept_rows(X, rows), (event[rows] > 0).astype(np.float64)
        counts = [f for f in log_features(self.requested_features) if f not in self.duration_features]
        self.design_ = LinearDesign(used, counts, duration_features=self.duration_features,
                                    duration_knots=self.duration_knots, min_variation=self.min_variation).fit(Xf)
        self.features_ = self.design_.features_
        self.advanced_ = [f for f in self.advance if f in self.features_]
        self.notes_ = list(self.selection_notes) + self.design_.notes_
        D = self.design_.transform(Xf)
        start = np.zeros(D.shape[1])
        rate = float(np.clip(ef.mean(), 1e-6, 1 - 1e-6))
        start[0] = np.log(-np.log1p(-rate)) if self.link == "cloglog" else special.logit(rate)
        import statsmodels.api as sm  # imported by the fits that use it, not by every command

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
            # statsmodels sets ``converged`` on IRLS results only; a Newton / L-BFGS result counts as converged
            converged = bool(res.converged) if method == "irls" else True
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


class LightGBMHazard(BoosterExplanations, HazardModel):
    """Direct per-horizon classifier: P(major attack within ``horizon`` weeks) by LightGBM (objective binary).

    ``event`` is ``target_major_attack_h{horizon}`` (1 if a major attack happens in weeks
    ``week_start .. week_start + horizon - 1``). ``features`` is a selection resolved against ``catalog``
    (None: every feature of the catalog, in catalog order); ``n_jobs`` is LightGBM's thread count (0 = its
    default). With ``valid_weeks`` the last ``valid_weeks`` weeks are held out (training rows whose target
    window reaches them are purged): the trees stop early on them and, with ``calibration`` ("isotonic" or
    "platt"), a calibrator is fitted on the held-out predictions. With ``refit`` (default) the trees are then
    refitted on all rows with the chosen number of rounds and the calibrator is applied to their output (as
    scikit-learn's CalibratedClassifierCV(ensemble=False) does): the recent weeks inform the trees, at the
    price of a calibrator learnt on a slightly different model. ``refit=False`` keeps the trees that the calibrator saw.

    ``contributions`` are SHAP values (LightGBM ``pred_contrib``) of the uncalibrated log-odds; their row
    sum plus ``expected_log_odds_`` is the row's uncalibrated log-odds.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (), features: Selection | None = None, *,
                 num_leaves: int = 15,
                 learning_rate: float = 0.05, n_estimators: int = 300, min_child_samples: int = 50,
                 subsample: float = 0.8, colsample_bytree: float = 0.8, reg_lambda: float = 1.0, seed: int = 0,
                 valid_weeks: int | None = None, early_stopping_rounds: int = 30, calibration: str | None = None,
                 refit: bool = True, n_jobs: int = 0, name: str | None = None):
        if calibration not in (None, "isotonic", "platt"):
            raise ValueError(f"calibration must be None, 'isotonic' or 'platt', not {calibration!r}")
        if calibration is not None and not valid_weeks:
            raise ValueError("calibration needs held-out weeks: set valid_weeks")
        self.horizon = horizon
        self.requested_features, self.selection_notes = catalog_features(catalog, features)
        self.features_: list[str] | None = None
        self.num_leaves, self.learning_rate, self.n_estimators = num_leaves, learning_rate, n_estimators
        self.min_child_samples, self.subsample, self.colsample_bytree = min_child_samples, subsample, colsample_bytree
        self.reg_lambda, self.seed = reg_lambda, seed
        self.valid_weeks, self.early_stopping_rounds = valid_weeks, early_stopping_rounds
        self.calibration = calibration
        self.refit = refit
        self.n_jobs = n_jobs
        self.name = name or f"lgbm_hazard_h{horizon}"

    def input_columns(self) -> list[str]:
        """The features the trees read."""
        return list(self.features_ if self.features_ is not None else self.requested_features)

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "LightGBMHazard":
        event = np.asarray(event, dtype=np.float64)
        rows = np.isfinite(event)
        X, e = kept_rows(X, rows), (event[rows] > 0).astype(np.float64)
        if not self.requested_features:
            raise KeyError("the feature selection found no feature in the catalog")
        require_columns(X, self.requested_features)
        self.features_ = list(self.requested_features)
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
