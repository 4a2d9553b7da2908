"""Self-exciting models: recent violence raises the expected violence linearly, so they extrapolate to
levels of violence they never saw (trees cannot).

Rows are district-weeks (features from the weeks before ``week_start``). The *rates* r_j are history
features turned into events per week (:func:`models.design.rate_divisor`: a windowed sum divided by its
window, a decayed sum by its total weight), selected from the catalog by measure, scope, statistic and
window / half-life.

* :class:`SelfExcitingNB` - expected events over the horizon = horizon * (c + sum_j w_j r_j) times
  log-linear modifiers, NB2 predictive (``y`` = ``target_violent_events_h{horizon}``).
* :class:`SelfExcitingHazard` - P(major attack within the horizon) = 1 - exp(-horizon (c + sum_j w_j r_j))
  (``event`` = ``target_major_attack_h{horizon}``).

``contributions`` split the log of the linear intensity exactly among the rates (:func:`additive_log_terms`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from features.spec import FeatureSpec, Select
from models.design import (
    LinearDesign,
    Selection,
    feature_matrix,
    kept_rows,
    log_features,
    rate_divisor,
    recency_weights,
    recent_rows,
    require_columns,
    resolve_features,
)
from models.distributions import NegativeBinomial
from models.nb2 import (
    DEFAULT_ALPHA_GRID,
    ETA_MAX,
    ETA_MIN,
    LOG_ALPHA_MAX,
    LOG_ALPHA_MIN,
    crps_alpha,
    nb2_dlog_pmf_dsize,
    nb2_log_pmf,
)
from models.protocol import CountModel, HazardModel

#: Own decayed rates (half-lives 1, 4, 13, 52 weeks) and the neighbours' windowed rates: the default rates of
#: :class:`SelfExcitingNB`. Chosen on the validation origins 2016-01-04 .. 2017-12-25 (real Mali data).
DEFAULT_RATE_FEATURES: tuple[Select, ...] = (
    *(Select(measure="violent_events", scope="own", statistic="ewm", half_lives=h) for h in (1, 4, 13, 52)),
    *(Select(measure="violent_events", scope="neighbours", statistic="sum", windows=w) for w in (4, 13, 52)),
)

#: Default rates of :class:`SelfExcitingHazard` (chosen on the validation origins 2016-01-04 .. 2017-12-25).
DEFAULT_HAZARD_RATES: tuple[Select, ...] = (
    Select(measure="major_attacks", scope="own", statistic="sum", windows=13),
    Select(measure="major_attacks", scope="own", statistic="sum", windows=52),
    Select(measure="major_attacks", scope="own", statistic="ewm", half_lives=4),
    Select(measure="violent_events", scope="own", statistic="ewm", half_lives=4),
    Select(measure="violent_events", scope="own", statistic="ewm", half_lives=13),
    Select(measure="violent_events", scope="own", statistic="sum", windows=52),
    Select(measure="major_attacks", scope="neighbours", statistic="sum", windows=13),
    Select(measure="major_attacks", scope="neighbours", statistic="sum", windows=52),
    Select(measure="violent_events", scope="neighbours", statistic="sum", windows=13),
)


def additive_log_terms(R: np.ndarray, weights: np.ndarray, background: float, rate_mean: np.ndarray,
                       index: pd.Index, names: Sequence[str]) -> pd.DataFrame:
    """Exact additive split of log(c + R w) - log(c + rate_mean w) among the columns of R: the change is
    shared in proportion to w_j (r_j - mean r_j) (the derivative when the change is nil)."""
    lin_ref = background + rate_mean @ weights
    parts = (R - rate_mean) * weights
    diff = parts.sum(axis=1)
    small = np.abs(diff) <= 1e-12 * lin_ref
    safe = np.where(small, 1.0, diff)
    scale = np.where(small, 1.0 / lin_ref, np.log((lin_ref + diff) / lin_ref) / safe)
    return pd.DataFrame(parts * scale[:, None], index=index, columns=list(names))


class SelfExcitingNB(CountModel):
    """Self-exciting count model: expected events = a weighted sum of recent event rates, times log-linear
    modifiers, with an NB2 predictive distribution.

    mean = horizon * (c + sum_j w_j r_j) * exp(sum_k gamma_k z_k + u_district), where

    * r_j are the ``rates`` (a selection resolved against ``catalog``, default :data:`DEFAULT_RATE_FEATURES`):
      history features divided by :func:`models.design.rate_divisor` (events per week: own decayed sums,
      neighbours' windowed sums, ...), w_j >= 0 their weights and c > 0 a background rate: a quiet
      district keeps a small positive mean, and a rolling mean of any rate is the special case w = 1, c ~ 0;
    * z_k are the standardised ``modifiers`` (a selection; count-like ones as log1p, see
      :class:`models.design.LinearDesign`) with a
      ridge penalty ``l2`` (none by default: on the validation origins they did not help);
    * u_district are optional district effects (``district_effects=True``), ridge-penalised by
      ``l2_district`` (0 for districts unseen in training).

    The parameters and an NB2 dispersion are fitted by maximum (optionally recency-weighted: weights
    0.5 ** (age / ``half_life_weeks``)) likelihood on rows from the last ``max_train_weeks`` weeks (all
    rows when None). The predictive dispersion is then ``dispersion``: "crps" picks the alpha of
    ``alpha_grid`` with the lowest CRPS on the training rows of the last ``dispersion_weeks`` weeks (CRPS
    prefers a sharper distribution than the likelihood, which heavy tails inflate), "ml" keeps the
    likelihood's alpha, a number fixes it.

    ``contributions`` splits log(mean) into exact additive terms relative to the training average: the
    change of log(c + sum w r) is shared among the rates in proportion to w_j (r_j - mean r_j); modifiers
    give gamma_k z_k; district effects one column ``district_effect``. Their row sum plus
    ``expected_log_mean_`` is the row's log mean.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (),
                 rates: Selection = DEFAULT_RATE_FEATURES, modifiers: Selection = (), *,
                 district_effects: bool = False, l2: float = 0.01, l2_district: float = 1.0,
                 half_life_weeks: float | None = None, max_train_weeks: int | None = None,
                 dispersion: str | float = "crps", dispersion_weeks: int | None = 104,
                 alpha_grid: Sequence[float] = DEFAULT_ALPHA_GRID, maxiter: int = 3000, name: str = "hawkes_nb"):
        if isinstance(dispersion, str) and dispersion not in ("crps", "ml"):
            raise ValueError(f"dispersion must be 'crps', 'ml' or a number, not {dispersion!r}")
        if not isinstance(dispersion, str) and float(dispersion) < 0:
            raise ValueError("a fixed dispersion must be >= 0")
        catalog = list(catalog)
        self.horizon = int(horizon)
        self.requested_rates, notes = resolve_features(rates, catalog)
        self.modifier_specs, notes_m = resolve_features(modifiers, catalog)
        self.modifiers = [s.name for s in self.modifier_specs]
        self.selection_notes = notes + notes_m
        self.district_effects = bool(district_effects)
        self.l2, self.l2_district = float(l2), float(l2_district)
        self.half_life_weeks, self.max_train_weeks = half_life_weeks, max_train_weeks
        self.dispersion, self.dispersion_weeks, self.alpha_grid = dispersion, dispersion_weeks, tuple(alpha_grid)
        self.maxiter = int(maxiter)
        self.name = name
        self.rates_: list[str] | None = None

    def input_columns(self) -> list[str]:
        """The columns the model reads: rates, modifiers, district_code with district effects (before fitting:
        the selected ones; after: the modifiers that survived the design)."""
        if self.rates_ is not None:
            modifiers = self.design_.features_
            rates = self.rates_
        else:
            modifiers, rates = self.modifiers, [s.name for s in self.requested_rates]
        return [*rates, *modifiers, *(["district_code"] if self.district_effects else [])]

    # -- design -------------------------------------------------------------------------------------------

    def _rates(self, X: pd.DataFrame) -> np.ndarray:
        R = feature_matrix(X, self.rates_) / self.divisors_
        return np.where(np.isfinite(R), np.clip(R, 0.0, None), 0.0)

    def _district_matrix(self, X: pd.DataFrame) -> np.ndarray:
        if not self.district_effects:
            return np.zeros((len(X), 0))
        codes = pd.Index(self.districts_).get_indexer(X["district_code"].astype("string"))
        out = np.zeros((len(X), len(self.districts_)))
        seen = codes >= 0
        out[np.flatnonzero(seen), codes[seen]] = 1.0
        return out

    def _modifier_matrix(self, X: pd.DataFrame) -> np.ndarray:
        if not self.design_.terms_:
            return np.zeros((len(X), 0))
        return self.design_.transform(X, intercept=False)

    def _unpack(self, theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        k, m = len(self.rates_), self.n_modifier_terms_
        return np.exp(theta[:k]), float(np.exp(theta[k])), theta[k + 1: k + 1 + m], theta[k + 1 + m: -1]

    def _objective(self, theta, y, R, Z, Dd, wt):
        w, c, g, u = self._unpack(theta)
        la = float(np.clip(theta[-1], LOG_ALPHA_MIN, LOG_ALPHA_MAX))
        a = np.exp(la)
        r = 1.0 / a
        lin = c + R @ w
        eta = np.clip(np.log(self.horizon * lin) + Z @ g + Dd @ u, ETA_MIN, ETA_MAX)
        mu = np.exp(eta)
        amu = a * mu
        log1p_amu = np.log1p(amu)
        ll = nb2_log_pmf(y, r, la + eta, log1p_amu)
        W = wt.sum()
        s = wt * (y - mu) / (1.0 + amu)  # d ll / d eta, weighted
        g_w = -(s / lin) @ R * w / W
        g_c = -np.sum(s / lin) * c / W
        g_g = -(s @ Z) / W + self.l2 * g
        g_u = -(s @ Dd) / W + self.l2_district * u
        dll_dr = nb2_dlog_pmf_dsize(y, r, mu, log1p_amu)
        g_la = np.sum(wt * dll_dr * r) / W
        value = -np.sum(wt * ll) / W + 0.5 * self.l2 * float(g @ g) + 0.5 * self.l2_district * float(u @ u)
        return value, np.r_[g_w, g_c, g_g, g_u, g_la]

    # -- fit / predict ------------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "SelfExcitingNB":
        y = np.asarray(y, dtype=np.float64)
        rows = np.isfinite(y) & (y >= 0)
        rows &= recent_rows(X, self.max_train_weeks)
        X, y = kept_rows(X, rows), y[rows]
        if len(y) == 0:
            raise ValueError("SelfExcitingNB needs at least one training row with a target")
        rates = [s.name for s in self.requested_rates]
        if not rates:
            raise KeyError("the rate selection found no feature in the catalog")
        require_columns(X, [*rates, *self.modifiers, *(["district_code"] if self.district_effects else [])])
        self.rates_, self.notes_ = rates, list(self.selection_notes)
        self.divisors_ = np.array([rate_divisor(s) for s in self.requested_rates])
        self.design_ = LinearDesign(self.modifiers, log_features(self.modifier_specs)).fit(X)
        self.notes_ += self.design_.notes_
        self.n_modifier_terms_ = len(self.design_.terms_)
        self.districts_ = (pd.Index(sorted(X["district_code"].astype("string").unique()), dtype="string")
                           if self.district_effects else pd.Index([], dtype="string"))
        R, Z, Dd = self._rates(X), self._modifier_matrix(X), self._district_matrix(X)
        wt = recency_weights(X, self.half_life_weeks)
        k = len(self.rates_)
        level = max(float(np.average(y, weights=wt)) / self.horizon, 1e-6)
        theta0 = np.r_[np.full(k, np.log(1.0 / max(k, 1))), np.log(0.05 * level + 1e-6),
                       np.zeros(Z.shape[1] + Dd.shape[1]), np.log(0.5)]
        bounds = ([(-20.0, 5.0)] * k + [(-20.0, 3.0)] + [(None, None)] * (Z.shape[1] + Dd.shape[1])
                  + [(LOG_ALPHA_MIN, LOG_ALPHA_MAX)])
        res = optimize.minimize(self._objective, theta0, args=(y, R, Z, Dd, wt), jac=True, method="L-BFGS-B",
                                bounds=bounds, options={"maxiter": self.maxiter})
        self.theta_, self.converged_ = res.x, bool(res.success)
        self.weights_, self.background_, self.gamma_, self.district_effect_ = self._unpack(res.x)
        self.alpha_ml_ = float(np.exp(res.x[-1]))
        if self.dispersion == "ml":
            self.alpha_ = self.alpha_ml_
        elif self.dispersion == "crps":
            recent = recent_rows(X, self.dispersion_weeks)
            self.alpha_ = crps_alpha(y[recent], self.predict_mean(X[recent]), self.alpha_grid)
        else:
            self.alpha_ = float(self.dispersion)
        self.rate_mean_ = R.mean(axis=0)
        self.expected_log_mean_ = float(np.log(self.horizon * (self.background_ + self.rate_mean_ @ self.weights_)))
        self.n_obs_ = int(len(y))
        self.modifier_cov_ = self._modifier_covariance(X, y, Z, wt)
        return self

    def _modifier_covariance(self, X: pd.DataFrame, y: np.ndarray, Z: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Covariance of the modifier coefficients gamma, robust to clustering by district (sandwich A^-1 B A^-1
        at the fit, with the ML dispersion), conditional on the fitted rate weights and background (they are
        not re-estimated); A includes the ridge penalty. Empty without modifiers."""
        m = Z.shape[1]
        if m == 0:
            return np.zeros((0, 0))
        mu = self.predict_mean(X)
        a = self.alpha_ml_
        info = wt * mu / (1.0 + a * mu)
        A = (Z * info[:, None]).T @ Z + self.l2 * wt.sum() * np.eye(m)
        score = Z * (wt * (y - mu) / (1.0 + a * mu))[:, None]
        groups = (pd.factorize(X["district_code"])[0] if "district_code" in X.columns
                  else np.arange(len(X)))
        U = np.zeros((int(groups.max()) + 1, m))
        np.add.at(U, groups, score)
        A_inv = np.linalg.pinv(A)
        return A_inv @ (U.T @ U) @ A_inv

    def log_mean_change(self, X_from: pd.DataFrame, X_to: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Change of each row's log mean from ``X_from`` to ``X_to`` (the same rows with other modifier values,
        e.g. another force registry; the rates must be equal) and its standard error from the uncertainty of
        the modifier coefficients (:meth:`_modifier_covariance`)."""
        if not np.allclose(self._rates(X_from), self._rates(X_to)):
            raise ValueError("log_mean_change compares rows whose rates are equal; these differ")
        dZ = self._modifier_matrix(X_to) - self._modifier_matrix(X_from)
        delta = self.log_mean(X_to) - self.log_mean(X_from)
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", dZ, self.modifier_cov_, dZ), 0.0)) if dZ.shape[1] else \
            np.zeros(len(X_from))
        return delta, se

    def _linear(self, X: pd.DataFrame) -> np.ndarray:
        return self.background_ + self._rates(X) @ self.weights_

    def log_mean(self, X: pd.DataFrame) -> np.ndarray:
        eta = np.log(self.horizon * self._linear(X))
        eta = eta + self._modifier_matrix(X) @ self.gamma_ + self._district_matrix(X) @ self.district_effect_
        return np.clip(eta, ETA_MIN, ETA_MAX)

    def predict_mean(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(self.log_mean(X))

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        return NegativeBinomial(self.predict_mean(X), self.alpha_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact additive terms of log(mean) relative to ``expected_log_mean_`` (see the class doc)."""
        out = additive_log_terms(self._rates(X), self.weights_, self.background_, self.rate_mean_, X.index,
                                 self.rates_)
        if self.n_modifier_terms_:
            out = pd.concat([out, self.design_.collapse(self._modifier_matrix(X) * self.gamma_, X.index)], axis=1)
        if self.district_effects:
            out["district_effect"] = self._district_matrix(X) @ self.district_effect_
        return out

    def coefficients(self) -> pd.DataFrame:
        """Rate weights (per event per week of each rate), background rate, modifiers, district effects, alpha."""
        terms = [*self.rates_, "background", *self.design_.terms_,
                 *[f"district:{d}" for d in self.districts_], "alpha"]
        values = [*self.weights_, self.background_, *self.gamma_, *self.district_effect_, self.alpha_]
        return pd.DataFrame({"term": terms, "coef": values})


class SelfExcitingHazard(HazardModel):
    """Direct per-horizon hazard with an additive, self-exciting intensity.

    P(at least one major attack in the ``horizon`` weeks from week_start) = 1 - exp(-Lambda), with the
    cumulative hazard Lambda = horizon * (c + sum_j w_j r_j): r_j the ``rates`` (a selection resolved against
    ``catalog``, default :data:`DEFAULT_HAZARD_RATES`; history features divided by
    :func:`models.design.rate_divisor`: events per week of major attacks and violent events, the district's
    own and its neighbours'), w_j >= 0 and c > 0 fitted by maximum Bernoulli likelihood on
    ``target_major_attack_h{horizon}`` (rows optionally recency-weighted, half-life ``half_life_weeks``).
    A quiet district keeps the background hazard c; past violence raises it linearly, so the model
    extrapolates to levels of violence it has not seen (trees cannot).

    ``contributions`` split log(Lambda) into exact additive terms relative to the training average (see
    :func:`additive_log_terms`); their row sum plus ``expected_log_hazard_`` is log Lambda.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (), rates: Selection = DEFAULT_HAZARD_RATES,
                 *, half_life_weeks: float | None = None, maxiter: int = 3000, name: str = "hawkes_hazard"):
        self.horizon = int(horizon)
        self.requested_rates, self.selection_notes = resolve_features(rates, catalog)
        self.rates_: list[str] | None = None
        self.half_life_weeks = half_life_weeks
        self.maxiter = int(maxiter)
        self.name = name

    def input_columns(self) -> list[str]:
        """The rate columns the model reads."""
        return list(self.rates_) if self.rates_ is not None else [s.name for s in self.requested_rates]

    def _rates(self, X: pd.DataFrame) -> np.ndarray:
        R = feature_matrix(X, self.rates_) / self.divisors_
        return np.where(np.isfinite(R), np.clip(R, 0.0, None), 0.0)

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "SelfExcitingHazard":
        event = np.asarray(event, dtype=np.float64)
        rows = np.isfinite(event)
        X, e = kept_rows(X, rows), (event[rows] > 0).astype(np.float64)
        if len(e) == 0:
            raise ValueError("SelfExcitingHazard needs at least one training row")
        rates = [s.name for s in self.requested_rates]
        if not rates:
            raise KeyError("the rate selection found no feature in the catalog")
        require_columns(X, rates)
        self.rates_, self.notes_ = rates, list(self.selection_notes)
        self.divisors_ = np.array([rate_divisor(s) for s in self.requested_rates])
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
