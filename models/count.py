"""Count models: violent events over the next ``horizon`` weeks, as a predictive distribution.

Every model takes district-week rows ``X`` (one row per district and ``week_start``, features computed from
the weeks before ``week_start``) and the count ``y`` of violent events in weeks ``week_start ..
week_start + horizon - 1`` (``target_violent_events_h{horizon}``), and predicts one distribution per row.

* :class:`NegativeBinomialGLM` - NB2 regression on a compact, standardised design (optionally ridge).
* :class:`ZeroInflatedNegativeBinomialGLM` - NB2 mixed with structural zeros whose share depends on
  a few "is this district quiet?" features; predicts a :class:`ZeroInflated` distribution.
* :class:`LightGBMCount` - gradient-boosted log-mean (Poisson or Tweedie objective) with an NB2 dispersion
  fitted on out-of-sample rows, so it also predicts a full :class:`NegativeBinomial`.

Each model's ``contributions(X)`` splits its log-mean into additive per-feature terms (one column per
feature used, same index as ``X``), which the scoring step turns into each district's top drivers.
The module also holds the shared design and LightGBM helpers that :mod:`models.hazard` reuses.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special, stats
from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP

from models.distributions import CountDistribution, NegativeBinomial

#: A compact default design for the GLMs: own recent history, decay, duration, neighbours, season.
#: With ``features=None`` the columns absent from the training rows are skipped (``notes_`` says which).
DEFAULT_GLM_FEATURES = [
    "violent_events_sum_w4",
    "violent_events_sum_w13",
    "violent_events_sum_w52",
    "violent_events_ewm_hl4",
    "fatalities_sum_w13",
    "weeks_since_violent_events",
    "nbr_violent_events_sum_w13",
    "season_sin",
    "season_cos",
]

#: Features driving the structural-zero share of the zero-inflated model ("has this district gone quiet?").
DEFAULT_INFLATION_FEATURES = ["weeks_since_violent_events", "violent_events_sum_w52"]

#: Columns of a feature-table frame that are never features.
KEY_COLUMNS = ("district_code", "week_start")
TARGET_PREFIX = "target_"

_ETA_MIN, _ETA_MAX = -30.0, 12.0  # log-mean clip: exp(12) ~ 160 000 events
_LOG_ALPHA_MIN, _LOG_ALPHA_MAX = np.log(1e-8), np.log(1e3)


def log_feature_names(features: list[str]) -> list[str]:
    """Count-like features (sums, lags, decayed sums, durations) enter GLMs as log1p; seasonal terms and
    trends (``*_trend_*``, already log ratios that can be negative) enter as they are."""
    return [f for f in features if not f.startswith(("season_", "rainy_")) and "_trend_" not in f]


def select_features(X: pd.DataFrame, features: Sequence[str] | None,
                    default: Sequence[str]) -> tuple[list[str], list[str]]:
    """The features a model uses, and notes about the ones it left out.

    An explicit ``features`` list is required in full (a missing column raises ``KeyError``); with
    ``features=None`` the ``default`` list is used, skipping the columns ``X`` does not have.
    """
    if features is not None:
        missing = [f for f in features if f not in X.columns]
        if missing:
            raise KeyError(f"feature columns missing from X: {missing}")
        return list(features), []
    used = [f for f in default if f in X.columns]
    notes = [f"default feature {f!r} absent from X: left out" for f in default if f not in X.columns]
    if not used:
        raise KeyError(f"none of the default features {list(default)} is in X")
    return used, notes


def numeric_feature_columns(X: pd.DataFrame) -> list[str]:
    """Every numeric or boolean column of a feature-table frame except the keys and the targets."""
    return [c for c in X.columns
            if c not in KEY_COLUMNS and not str(c).startswith(TARGET_PREFIX)
            and (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]


def feature_matrix(X: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """float64 array (rows x features) with missing values (pd.NA included) as NaN."""
    if not features:
        return np.zeros((len(X), 0))
    return np.column_stack([pd.to_numeric(X[f], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                            for f in features])


# --------------------------------------------------------------------------------------------------
# Linear designs
# --------------------------------------------------------------------------------------------------


class RequestedFeatures:
    """``features``: the columns a fitted model reads; before fitting, the requested or default list
    (``requested_features``)."""

    @property
    def features(self) -> list[str]:
        """The features the fitted model reads (before fitting: the requested or default list)."""
        return list(getattr(self, "features_", self.requested_features))


class LinearDesign:
    """Features -> standardised design columns ("terms") for the GLMs, with near-constant terms dropped.

    Each feature gives one term: log1p(max(x, 0)) for ``log_features``, x otherwise. A feature in
    ``duration_features`` (weeks since the last event) gives log1p(w) plus one hinge term
    max(0, log1p(w) - log1p(k)) per knot k (weeks): a piecewise-linear curve in log duration.
    Terms are centred and scaled with the training rows' mean and standard deviation, so a term's value 0
    is the training average. A term is dropped when it is (nearly) constant: standard deviation below
    1e-8 * (1 + |mean|) or fewer than ``min_variation`` rows differing from its most common value.
    Missing values (NaN) are imputed with the training mean (z = 0) by ``transform(..., fill=True)``.
    """

    def __init__(self, features: Sequence[str], log_features: Sequence[str], *,
                 duration_features: Sequence[str] = (), duration_knots: Sequence[float] = (),
                 min_variation: int = 5):
        self.features = list(features)
        self.log_features = set(log_features)
        self.duration_features = [f for f in duration_features if f in self.features]
        self.duration_knots = tuple(float(k) for k in duration_knots)
        self.min_variation = int(min_variation)

    def _basis(self, X: pd.DataFrame,
               overrides: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, list[str], list[str]]:
        cols, names, parents = [], [], []
        for f in self.features:
            x = overrides[f] if overrides and f in overrides else feature_matrix(X, [f])[:, 0]
            x = np.asarray(x, dtype=np.float64)
            if f in self.duration_features:
                lw = np.log1p(np.clip(x, 0, None))
                cols.append(lw), names.append(f), parents.append(f)
                for k in self.duration_knots:
                    cols.append(np.maximum(lw - np.log1p(k), 0.0)), names.append(f"{f}:hinge{k:g}"), parents.append(f)
            elif f in self.log_features:
                cols.append(np.log1p(np.clip(x, 0, None))), names.append(f), parents.append(f)
            else:
                cols.append(x), names.append(f), parents.append(f)
        raw = np.column_stack(cols) if cols else np.zeros((len(X), 0))
        return raw, names, parents

    def fit(self, X: pd.DataFrame) -> "LinearDesign":
        raw, names, parents = self._basis(X)
        keep, self.notes_ = [], []
        means, scales = [], []
        for j, name in enumerate(names):
            col = raw[:, j][np.isfinite(raw[:, j])]
            if len(col) == 0:
                self.notes_.append(f"term {name!r} has no finite value: dropped")
                continue
            mean, sd = float(col.mean()), float(col.std())
            values, counts = np.unique(col, return_counts=True)
            n_other = len(col) - int(counts.max())
            if sd <= 1e-8 * (1.0 + abs(mean)) or n_other < self.min_variation:
                self.notes_.append(f"term {name!r} is (nearly) constant ({n_other} rows differ from its mode): dropped")
                continue
            keep.append(j), means.append(mean), scales.append(sd)
        self.keep_ = np.asarray(keep, dtype=int)
        self.terms_ = [names[j] for j in keep]
        self.parents_ = [parents[j] for j in keep]
        self.mean_ = np.asarray(means, dtype=np.float64)
        self.scale_ = np.asarray(scales, dtype=np.float64)
        self.features_ = [f for f in self.features if f in set(self.parents_)]
        return self

    def transform(self, X: pd.DataFrame, *, intercept: bool = True, fill: bool = True,
                  overrides: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Standardised terms (rows x terms), with a leading column of ones when ``intercept``.

        ``overrides`` replaces a feature's raw values (used to advance durations along a survival path).
        """
        raw, _, _ = self._basis(X, overrides)
        z = (raw[:, self.keep_] - self.mean_) / self.scale_
        if fill:
            z = np.where(np.isfinite(z), z, 0.0)
        return np.column_stack([np.ones(len(X)), z]) if intercept else z

    def collapse(self, terms: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """Sum per-term values (rows x terms) into one column per feature."""
        out = pd.DataFrame(0.0, index=index, columns=self.features_)
        for j, parent in enumerate(self.parents_):
            out[parent] += terms[:, j]
        return out


# --------------------------------------------------------------------------------------------------
# NB2 maximum likelihood
# --------------------------------------------------------------------------------------------------


def nb2_loglik(y: np.ndarray, mu: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """Per-row NB2 log-likelihood (mean mu, variance mu + alpha mu^2); alpha -> 0 is the Poisson limit."""
    y = np.asarray(y, dtype=np.float64)
    mu = np.clip(np.asarray(mu, dtype=np.float64), 1e-12, None)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), mu.shape)
    pois = alpha < 1e-8
    a = np.where(pois, 1.0, alpha)
    r = 1.0 / a
    nb = (special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1.0)
          - r * np.log1p(a * mu) + y * (np.log(a * mu) - np.log1p(a * mu)))
    return np.where(pois, stats.poisson.logpmf(y, mu), nb)


def nb2_alpha_mle(y: np.ndarray, mu: np.ndarray) -> float:
    """Maximum-likelihood NB2 dispersion alpha given fixed means (1e-8 .. 1e3; ~1e-8 = Poisson)."""
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(mu)
    y, mu = y[ok], mu[ok]
    if len(y) == 0:
        return 1.0
    res = optimize.minimize_scalar(lambda la: -nb2_loglik(y, mu, np.exp(la)).sum(),
                                   bounds=(_LOG_ALPHA_MIN, _LOG_ALPHA_MAX), method="bounded",
                                   options={"xatol": 1e-6})
    return float(np.exp(res.x))


def _nb2_objective(theta: np.ndarray, y: np.ndarray, D: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """Mean negative NB2 log-likelihood + l2/2 * |beta without intercept|^2, and its gradient.

    ``theta`` = (beta, log alpha).
    """
    beta, la = theta[:-1], float(np.clip(theta[-1], _LOG_ALPHA_MIN, _LOG_ALPHA_MAX))
    a = np.exp(la)
    r = 1.0 / a
    eta = np.clip(D @ beta, _ETA_MIN, _ETA_MAX)
    mu = np.exp(eta)
    amu = a * mu
    ll = (special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1.0)
          - r * np.log1p(amu) + y * (la + eta - np.log1p(amu)))
    n = len(y)
    g_beta = -D.T @ ((y - mu) / (1.0 + amu)) / n
    dll_dr = special.digamma(y + r) - special.digamma(r) - np.log1p(amu) + (mu - y) / (r + mu)
    g_la = np.sum(dll_dr * r) / n  # d(-ll)/d(log alpha) = -dll/dr * dr/dla, with dr/dla = -r
    pen = np.r_[0.0, beta[1:]]
    value = -ll.mean() + 0.5 * l2 * float(pen @ pen)
    return value, np.r_[g_beta + l2 * pen, g_la]


def _poisson_start(y: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Poisson GLM coefficients (IRLS), or least squares on log(y + 0.1) if IRLS fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            beta = np.asarray(sm.GLM(y, D, family=sm.families.Poisson()).fit(maxiter=100).params)
        if np.all(np.isfinite(beta)) and np.abs(beta).max() < 50:
            return beta
    except Exception:  # noqa: BLE001 - any numerical failure falls back to least squares
        pass
    return np.linalg.lstsq(D, np.log(y + 0.1), rcond=None)[0]


def _moment_alpha(y: np.ndarray, mu: np.ndarray) -> float:
    mu = np.clip(mu, 1e-6, None)
    return float(np.clip(np.mean(((y - mu) ** 2 - mu) / mu**2), 0.05, 10.0))


def fit_nb2(y: np.ndarray, D: np.ndarray, *, l2: float = 0.0, maxiter: int = 500) -> dict:
    """NB2 regression of counts ``y`` on the design ``D`` (intercept included), robustly.

    Unpenalised: statsmodels NegativeBinomial by BFGS from a Poisson-GLM start, then Newton if BFGS
    did not converge, then a direct L-BFGS-B fit of (beta, log alpha), and finally the Poisson-GLM
    coefficients with alpha fitted by maximum likelihood given their means. With ``l2 > 0`` the
    objective is the mean negative log-likelihood + l2/2 * |beta|^2 (intercept not penalised), minimised
    by L-BFGS-B. Returns params (beta), alpha, bse (beta..., alpha), llf, converged and method.
    """
    beta0 = _poisson_start(y, D)
    alpha0 = _moment_alpha(y, np.exp(np.clip(D @ beta0, _ETA_MIN, _ETA_MAX)))
    if l2 == 0.0:
        for method in ("bfgs", "newton"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = sm.NegativeBinomial(y, D, loglike_method="nb2").fit(
                        start_params=np.r_[beta0, alpha0], method=method, maxiter=maxiter, disp=0)
                    bse = np.asarray(res.bse)
            except Exception:  # noqa: BLE001 - singular Hessians, overflow: try the next method
                continue
            params = np.asarray(res.params)
            if (res.mle_retvals.get("converged", False) and np.all(np.isfinite(params)) and np.isfinite(res.llf)
                    and 0.0 < params[-1] < 1e3):
                return {"params": params[:-1], "alpha": float(max(params[-1], 1e-8)), "bse": bse,
                        "llf": float(res.llf), "converged": True, "method": method}
    theta0 = np.r_[beta0, np.log(alpha0)]
    bounds = [(None, None)] * D.shape[1] + [(_LOG_ALPHA_MIN, _LOG_ALPHA_MAX)]
    res = optimize.minimize(_nb2_objective, theta0, args=(y, D, l2), jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": max(maxiter, 2000), "gtol": 1e-9, "ftol": 1e-13})
    if np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and (res.success or l2 > 0.0):
        beta, alpha, method, converged = res.x[:-1], float(np.exp(res.x[-1])), "lbfgs", bool(res.success)
    else:
        beta = beta0
        alpha = nb2_alpha_mle(y, np.exp(np.clip(D @ beta0, _ETA_MIN, _ETA_MAX)))
        method, converged = "poisson+alpha", False
    mu = np.exp(np.clip(D @ beta, _ETA_MIN, _ETA_MAX))
    theta = np.r_[beta, np.log(alpha)]
    bse = _objective_bse(theta, y, D, l2)
    bse[-1] *= alpha  # delta method: se(alpha) = alpha * se(log alpha)
    return {"params": beta, "alpha": alpha, "bse": bse, "llf": float(nb2_loglik(y, mu, alpha).sum()),
            "converged": converged, "method": method}


def _objective_bse(theta: np.ndarray, y: np.ndarray, D: np.ndarray, l2: float) -> np.ndarray:
    """Standard errors from the inverse Hessian (central differences of the analytic gradient)."""
    n, k = len(y), len(theta)
    hess = np.empty((k, k))
    for j in range(k):
        step = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(k)
        e[j] = step
        hess[:, j] = (_nb2_objective(theta + e, y, D, l2)[1] - _nb2_objective(theta - e, y, D, l2)[1]) / (2 * step)
    hess = 0.5 * (hess + hess.T) * n
    try:
        cov = np.linalg.inv(hess)
        return np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)


# --------------------------------------------------------------------------------------------------
# Negative binomial GLM
# --------------------------------------------------------------------------------------------------


class NegativeBinomialGLM(RequestedFeatures):
    """NB2 regression (log link, dispersion alpha estimated by maximum likelihood).

    The mean of the count over the horizon is exp(x'beta), x the standardised (log1p for counts) features
    of the row; the predictive distribution is NB2 with the fitted alpha (variance mu + alpha mu^2).
    ``contributions`` splits the log-mean into per-feature terms beta_j * z_j (z centred on the training
    mean), the exact SHAP values of the linear predictor.

    Robustness: near-constant features are dropped (``notes_`` says which), rows with a missing target
    are ignored, missing feature values are imputed with the training mean, and the fit falls back from
    BFGS to Newton to a direct L-BFGS-B fit to Poisson-GLM means + ML alpha (``fit_method_``).
    ``l2`` > 0 adds a ridge penalty l2/2 * |beta|^2 on the standardised coefficients (intercept free) to the
    mean negative log-likelihood; ``aic_`` then still counts every coefficient as one parameter.
    """

    def __init__(self, horizon: int, features: list[str] | None = None, name: str = "nb_glm", *,
                 l2: float = 0.0, maxiter: int = 500, min_variation: int = 5):
        self.horizon = horizon
        self.requested_features = list(features or DEFAULT_GLM_FEATURES)
        self.name = name
        self.l2 = float(l2)
        self.maxiter = int(maxiter)
        self.min_variation = int(min_variation)
        self._explicit = features is not None

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "NegativeBinomialGLM":
        y = np.asarray(y, dtype=np.float64)
        req = self.requested_features
        used, notes = select_features(X, req if self._explicit else None, req)
        rows = np.isfinite(y) & (y >= 0)
        Xf, yf = X[rows], y[rows]
        self.design_ = LinearDesign(used, log_feature_names(used), min_variation=self.min_variation).fit(Xf)
        self.features_ = self.design_.features_
        self.notes_ = notes + self.design_.notes_
        if (~rows).any():
            self.notes_.append(f"{int((~rows).sum())} rows with a missing or negative target ignored")
        D = self.design_.transform(Xf)
        out = fit_nb2(yf, D, l2=self.l2, maxiter=self.maxiter)
        self.params_ = np.asarray(out["params"], dtype=np.float64)
        self.alpha_ = float(np.clip(out["alpha"], 1e-8, None))
        self.bse_ = np.asarray(out["bse"], dtype=np.float64)
        self.converged_ = bool(out["converged"])
        self.fit_method_ = out["method"]
        self.llf_ = float(out["llf"])
        self.aic_ = float(-2.0 * self.llf_ + 2.0 * (len(self.params_) + 1))
        self.n_obs_ = int(len(yf))
        return self

    def log_mean(self, X: pd.DataFrame) -> np.ndarray:
        """log of the expected count over the horizon, per row."""
        return np.clip(self.design_.transform(X) @ self.params_, _ETA_MIN, _ETA_MAX)

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        return NegativeBinomial(np.exp(self.log_mean(X)), self.alpha_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature terms of the log-mean (relative to the training average), same index as X."""
        z = self.design_.transform(X, intercept=False)
        return self.design_.collapse(z * self.params_[1:], X.index)

    def coefficients(self) -> pd.DataFrame:
        """Standardised coefficients (per training standard deviation of the term), then alpha."""
        return pd.DataFrame({"term": ["intercept", *self.design_.terms_, "alpha"],
                             "coef": [*self.params_, self.alpha_],
                             "std_err": self.bse_})


# --------------------------------------------------------------------------------------------------
# Self-exciting (additive-rate) negative binomial
# --------------------------------------------------------------------------------------------------

#: Own decayed rates (half-lives 1, 4, 13, 52 weeks) and the neighbours' windowed rates: the default rates of
#: :class:`SelfExcitingNB`. Chosen on the validation origins 2016-01-04 .. 2017-12-25 (real Mali data).
DEFAULT_RATE_FEATURES = [
    "violent_events_ewm_hl1",
    "violent_events_ewm_hl4",
    "violent_events_ewm_hl13",
    "violent_events_ewm_hl52",
    "nbr_violent_events_sum_w4",
    "nbr_violent_events_sum_w13",
    "nbr_violent_events_sum_w52",
]
#: Candidate NB2 dispersions for ``dispersion="crps"`` (alpha = 0: Poisson).
DEFAULT_ALPHA_GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0)

_SUM_WINDOW = re.compile(r"_sum_w(\d+)$")
_EWM_HALF_LIFE = re.compile(r"_ewm_hl(\d+(?:\.\d+)?)$")


def rate_divisor(feature: str) -> float:
    """What turns a history feature into an average count per week: the window W of ``*_sum_w{W}``, the
    total weight 1 / (1 - 0.5 ** (1 / H)) of a decayed sum ``*_ewm_hl{H}``, else 1 (taken as a rate already)."""
    if m := _SUM_WINDOW.search(feature):
        return float(m.group(1))
    if m := _EWM_HALF_LIFE.search(feature):
        return 1.0 / (1.0 - 0.5 ** (1.0 / float(m.group(1))))
    return 1.0


def recency_weights(X: pd.DataFrame, half_life_weeks: float | None) -> np.ndarray:
    """Row weights 0.5 ** (age / half_life), age = weeks between the row's week_start and the newest one
    (all ones without a half-life or a week_start column), scaled to mean 1."""
    if not half_life_weeks or "week_start" not in X.columns or len(X) == 0:
        return np.ones(len(X))
    weeks = pd.to_datetime(X["week_start"]).to_numpy()
    age = (weeks.max() - weeks) / np.timedelta64(7, "D")
    w = 0.5 ** (np.asarray(age, dtype=np.float64) / float(half_life_weeks))
    return w / w.mean()


def recent_rows(X: pd.DataFrame, weeks: int | None) -> np.ndarray:
    """Mask of the rows whose week_start is among the last ``weeks`` weeks of X (all rows when None)."""
    if not weeks or "week_start" not in X.columns or len(X) == 0:
        return np.ones(len(X), dtype=bool)
    ws = pd.to_datetime(X["week_start"]).to_numpy()
    return (ws.max() - ws) / np.timedelta64(7, "D") < weeks


def crps_alpha(y: np.ndarray, mu: np.ndarray, grid: Sequence[float] = DEFAULT_ALPHA_GRID,
               weights: np.ndarray | None = None) -> float:
    """The NB2 dispersion of ``grid`` with the lowest (weighted) mean CRPS for counts ``y`` given means ``mu``."""
    y = np.asarray(y, dtype=np.float64)
    mu = np.clip(np.asarray(mu, dtype=np.float64), 1e-9, None)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(y) == 0:
        return float(grid[len(grid) // 2])
    with np.errstate(all="ignore"):  # scoringrules' Poisson CRPS overflows (NaN) for counts above ~170
        scores = np.array([np.sum(w * NegativeBinomial(mu, a).crps(y)) / np.sum(w) for a in grid])
    return float(grid[int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))])


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


class SelfExcitingNB:
    """Self-exciting count model: expected events = a weighted sum of recent event rates, times log-linear
    modifiers, with an NB2 predictive distribution.

    mean = horizon * (c + sum_j w_j r_j) * exp(sum_k gamma_k z_k + u_district), where

    * r_j are the ``rates``: history features divided by :func:`rate_divisor` (events per week: own decayed
      sums, neighbours' windowed sums, ...), w_j >= 0 their weights and c > 0 a background rate: a quiet
      district keeps a small positive mean, and a rolling mean of any rate is the special case w = 1, c ~ 0;
    * z_k are the standardised ``modifiers`` (count-like ones as log1p, see :class:`LinearDesign`) with a
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

    def __init__(self, horizon: int, rates: Sequence[str] | None = None, modifiers: Sequence[str] = (), *,
                 district_effects: bool = False, l2: float = 0.01, l2_district: float = 1.0,
                 half_life_weeks: float | None = None, max_train_weeks: int | None = None,
                 dispersion: str | float = "crps", dispersion_weeks: int | None = 104,
                 alpha_grid: Sequence[float] = DEFAULT_ALPHA_GRID, maxiter: int = 3000, name: str = "hawkes_nb"):
        if isinstance(dispersion, str) and dispersion not in ("crps", "ml"):
            raise ValueError(f"dispersion must be 'crps', 'ml' or a number, not {dispersion!r}")
        if not isinstance(dispersion, str) and float(dispersion) < 0:
            raise ValueError("a fixed dispersion must be >= 0")
        self.horizon = int(horizon)
        self.requested_rates = None if rates is None else list(rates)
        self.modifiers = list(modifiers)
        self.district_effects = bool(district_effects)
        self.l2, self.l2_district = float(l2), float(l2_district)
        self.half_life_weeks, self.max_train_weeks = half_life_weeks, max_train_weeks
        self.dispersion, self.dispersion_weeks, self.alpha_grid = dispersion, dispersion_weeks, tuple(alpha_grid)
        self.maxiter = int(maxiter)
        self.name = name

    @property
    def features(self) -> list[str]:
        """The columns the model reads (before fitting: the requested ones)."""
        if hasattr(self, "rates_"):
            return [*self.rates_, *self.design_.features_, *(["district_code"] if self.district_effects else [])]
        rates = self.requested_rates if self.requested_rates is not None else DEFAULT_RATE_FEATURES
        return [*rates, *self.modifiers, *(["district_code"] if self.district_effects else [])]

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
        la = float(np.clip(theta[-1], _LOG_ALPHA_MIN, _LOG_ALPHA_MAX))
        a = np.exp(la)
        r = 1.0 / a
        lin = c + R @ w
        eta = np.clip(np.log(self.horizon * lin) + Z @ g + Dd @ u, _ETA_MIN, _ETA_MAX)
        mu = np.exp(eta)
        amu = a * mu
        ll = (special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1.0)
              - r * np.log1p(amu) + y * (la + eta - np.log1p(amu)))
        W = wt.sum()
        s = wt * (y - mu) / (1.0 + amu)  # d ll / d eta, weighted
        g_w = -(s / lin) @ R * w / W
        g_c = -np.sum(s / lin) * c / W
        g_g = -(s @ Z) / W + self.l2 * g
        g_u = -(s @ Dd) / W + self.l2_district * u
        dll_dr = special.digamma(y + r) - special.digamma(r) - np.log1p(amu) + (mu - y) / (r + mu)
        g_la = np.sum(wt * dll_dr * r) / W
        value = -np.sum(wt * ll) / W + 0.5 * self.l2 * float(g @ g) + 0.5 * self.l2_district * float(u @ u)
        return value, np.r_[g_w, g_c, g_g, g_u, g_la]

    # -- fit / predict ------------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "SelfExcitingNB":
        y = np.asarray(y, dtype=np.float64)
        rows = np.isfinite(y) & (y >= 0)
        rows &= recent_rows(X, self.max_train_weeks)
        X, y = X[rows], y[rows]
        if len(y) == 0:
            raise ValueError("SelfExcitingNB needs at least one training row with a target")
        req = self.requested_rates
        self.rates_, self.notes_ = select_features(X, req, DEFAULT_RATE_FEATURES)
        self.divisors_ = np.array([rate_divisor(f) for f in self.rates_])
        self.design_ = LinearDesign(self.modifiers, log_feature_names(self.modifiers)).fit(X)
        self.notes_ += self.design_.notes_
        self.n_modifier_terms_ = len(self.design_.terms_)
        if self.district_effects:
            self.districts_ = pd.Index(sorted(X["district_code"].astype("string").unique()), dtype="string")
        R, Z, Dd = self._rates(X), self._modifier_matrix(X), self._district_matrix(X)
        wt = recency_weights(X, self.half_life_weeks)
        k = len(self.rates_)
        level = max(float(np.average(y, weights=wt)) / self.horizon, 1e-6)
        theta0 = np.r_[np.full(k, np.log(1.0 / max(k, 1))), np.log(0.05 * level + 1e-6),
                       np.zeros(Z.shape[1] + Dd.shape[1]), np.log(0.5)]
        bounds = ([(-20.0, 5.0)] * k + [(-20.0, 3.0)] + [(None, None)] * (Z.shape[1] + Dd.shape[1])
                  + [(_LOG_ALPHA_MIN, _LOG_ALPHA_MAX)])
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
        return self

    def _linear(self, X: pd.DataFrame) -> np.ndarray:
        return self.background_ + self._rates(X) @ self.weights_

    def log_mean(self, X: pd.DataFrame) -> np.ndarray:
        eta = np.log(self.horizon * self._linear(X))
        eta = eta + self._modifier_matrix(X) @ self.gamma_ + self._district_matrix(X) @ self.district_effect_
        return np.clip(eta, _ETA_MIN, _ETA_MAX)

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
                 *[f"district:{d}" for d in getattr(self, "districts_", [])], "alpha"]
        values = [*self.weights_, self.background_, *self.gamma_, *self.district_effect_, self.alpha_]
        return pd.DataFrame({"term": terms, "coef": values})


# --------------------------------------------------------------------------------------------------
# Zero-inflated negative binomial
# --------------------------------------------------------------------------------------------------


def nb2_cdf_grid(mu: np.ndarray, alpha: np.ndarray, size: int) -> np.ndarray:
    """NB2 cdf at k = 0 .. size - 1 for each row (rows x size), by the pmf recursion
    p(k + 1) = p(k) (k + r) / (k + 1) * mu / (r + mu), r = 1 / alpha (Poisson: p(k + 1) = p(k) mu / (k + 1))."""
    mu = np.clip(np.asarray(mu, dtype=np.float64), 1e-12, None)[:, None]
    alpha = np.asarray(alpha, dtype=np.float64)[:, None]
    pois = alpha < 1e-8
    a = np.where(pois, 1.0, alpha)
    r = 1.0 / a
    k = np.arange(size - 1, dtype=np.float64)[None, :]
    log_p0 = np.where(pois, -mu, -r * np.log1p(a * mu))
    log_ratio = np.where(pois, np.log(mu) - np.log1p(k),
                         np.log(k + r) - np.log1p(k) + np.log(a * mu) - np.log1p(a * mu))
    log_p = np.concatenate([log_p0, log_p0 + np.cumsum(log_ratio, axis=1)], axis=1)
    return np.clip(np.cumsum(np.exp(log_p), axis=1), 0.0, 1.0)


class ZeroInflated(CountDistribution):
    """Mixture per row: 0 with probability ``pi`` (structural zero), else a draw from ``base`` (NB2).

    P(0) = pi + (1 - pi) NB(0); P(k) = (1 - pi) NB(k) for k >= 1; mean (1 - pi) mu.
    """

    #: Tail mass left out of the truncated support used by :meth:`crps`.
    CRPS_TAIL = 1e-10
    _CELLS_PER_CHUNK = 2_000_000

    def __init__(self, base: NegativeBinomial, pi: np.ndarray | float):
        self.base = base
        self.pi = np.broadcast_to(np.clip(np.asarray(pi, dtype=np.float64), 0.0, 1.0), base.mean.shape).copy()

    @property
    def mean(self) -> np.ndarray:
        return (1.0 - self.pi) * self.base.mean

    def cdf(self, k) -> np.ndarray:
        k = np.broadcast_to(np.asarray(k, dtype=np.float64), self.pi.shape)
        return np.where(k < 0, 0.0, self.pi + (1.0 - self.pi) * self.base.cdf(k))

    def quantile(self, q: float) -> np.ndarray:
        """Smallest count k with cdf(k) >= q: 0 while q <= pi, else the NB quantile of (q - pi) / (1 - pi)."""
        inner = np.clip((q - self.pi) / np.clip(1.0 - self.pi, 1e-300, None), 0.0, 1.0)
        k = np.where(q <= self.pi, 0.0, self.base.quantile(inner))
        k = np.where(np.isfinite(k), k, 0.0)
        # guard the NB ppf against rounding: step down while the count below already reaches q
        for _ in range(2):
            lower = np.maximum(k - 1.0, 0.0)
            k = np.where((k > 0) & (self.cdf(lower) >= q), lower, k)
        return k

    def log_score(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_nb = -self.base.log_score(y)
            p0 = self.pi + (1.0 - self.pi) * np.exp(-self.base.log_score(np.zeros_like(y)))
            return -np.where(y == 0, np.log(p0), np.log1p(-self.pi) + log_nb)

    def crps(self, y) -> np.ndarray:
        """sum_k (F(k) - 1{y <= k})^2 over k = 0 .. K, K past both y and the 1 - 1e-10 quantile.

        Vectorised over rows in chunks (rows sorted by K so a chunk shares a short support).
        """
        y = np.asarray(y, dtype=np.float64)
        upper = np.maximum(self.quantile(1.0 - self.CRPS_TAIL), y)
        upper = np.where(np.isfinite(upper), upper, y).astype(np.int64) + 1
        mu, alpha = self.base.mean, self.base.alpha
        out = np.empty_like(y)
        order = np.argsort(upper, kind="stable")
        start = 0
        while start < len(order):
            stop = start + 1
            while stop < len(order) and (stop - start + 1) * (upper[order[stop]] + 1) <= self._CELLS_PER_CHUNK:
                stop += 1
            idx = order[start:stop]
            grid = np.arange(upper[idx].max() + 1, dtype=np.float64)[None, :]
            F = self.pi[idx][:, None] + (1.0 - self.pi[idx][:, None]) * nb2_cdf_grid(mu[idx], alpha[idx], grid.shape[1])
            step = (grid >= y[idx][:, None]).astype(np.float64)
            out[idx] = ((F - step) ** 2).sum(axis=1)
            start = stop
        return out


class ZeroInflatedNegativeBinomialGLM:
    """Zero-inflated NB2 regression (statsmodels ZeroInflatedNegativeBinomialP, logit inflation).

    A row's count over the horizon is 0 with probability pi = expit(w'gamma) (a "quiet" district-week),
    otherwise NB2 with mean mu = exp(x'beta) and dispersion alpha. x: the standardised ``features``
    (log1p for counts); w: the standardised ``inflation_features`` (default: weeks since the last violent
    event and the 52-week count). Predicts :class:`ZeroInflated` (overall mean (1 - pi) mu).

    ``contributions`` splits log E[count] = x'beta - softplus(w'gamma) exactly: feature j gets
    beta_j z_j plus, when it is an inflation feature, gamma_j w_j * (softplus(g0) - softplus(w'gamma)) /
    (w'gamma - g0) (the straight-line integrated gradient of the inflation term from the training average
    g0 = gamma_0), so the row sum is the log-mean minus its value at the training average.
    """

    def __init__(self, horizon: int, features: list[str] | None = None,
                 inflation_features: list[str] | None = None, name: str = "zinb_glm", *,
                 maxiter: int = 500, min_variation: int = 5):
        self.horizon = horizon
        self.requested_features = list(features or DEFAULT_GLM_FEATURES)
        self.inflation_features = list(inflation_features or DEFAULT_INFLATION_FEATURES)
        self.name = name
        self.maxiter = int(maxiter)
        self.min_variation = int(min_variation)
        self._explicit = (features is not None, inflation_features is not None)

    @property
    def features(self) -> list[str]:
        """Every feature the fitted model reads, count part then inflation-only (before fitting: as requested)."""
        count = getattr(self, "features_", self.requested_features)
        infl = getattr(self, "inflation_features_", self.inflation_features)
        return list(dict.fromkeys([*count, *infl]))

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "ZeroInflatedNegativeBinomialGLM":
        y = np.asarray(y, dtype=np.float64)
        req = self.requested_features
        used, notes = select_features(X, req if self._explicit[0] else None, req)
        infl, notes_i = select_features(X, self.inflation_features if self._explicit[1] else None,
                                        self.inflation_features)
        rows = np.isfinite(y) & (y >= 0)
        Xf, yf = X[rows], y[rows]
        self.design_ = LinearDesign(used, log_feature_names(used), min_variation=self.min_variation).fit(Xf)
        self.inflation_design_ = LinearDesign(infl, log_feature_names(infl), min_variation=self.min_variation).fit(Xf)
        self.features_ = self.design_.features_
        self.inflation_features_ = self.inflation_design_.features_
        self.notes_ = notes + notes_i + self.design_.notes_ + [f"inflation: {n}" for n in self.inflation_design_.notes_]
        D, W = self.design_.transform(Xf), self.inflation_design_.transform(Xf)
        nb = fit_nb2(yf, D, maxiter=self.maxiter)
        # start: structural zeros = the excess of zeros over the NB fit
        mu_nb = np.exp(np.clip(D @ nb["params"], _ETA_MIN, _ETA_MAX))
        p0_nb = np.exp(nb2_loglik(np.zeros_like(yf), mu_nb, nb["alpha"]))
        excess = np.clip(((yf == 0).mean() - p0_nb.mean()) / np.clip(1 - p0_nb.mean(), 1e-6, None), 0.02, 0.9)
        start = np.r_[special.logit(excess), np.zeros(W.shape[1] - 1), nb["params"], nb["alpha"]]
        model = ZeroInflatedNegativeBinomialP(yf, D, exog_infl=W, inflation="logit", p=2)
        best = None
        for method in ("bfgs", "newton", "nm"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = model.fit(start_params=start, method=method,
                                    maxiter=self.maxiter * (10 if method == "nm" else 1), disp=0)
            except Exception:  # noqa: BLE001 - try the next optimiser
                continue
            params = np.asarray(res.params)
            if not (np.all(np.isfinite(params)) and np.isfinite(res.llf)):
                continue
            converged = bool(res.mle_retvals.get("converged", False))
            if best is None or (converged and not best[2]) or (converged == best[2] and res.llf > best[0].llf):
                best = (res, method, converged)
            if converged:
                break
        k_infl = W.shape[1]
        if best is None:  # every optimiser failed: no inflation on top of the NB fit
            self.gamma_ = np.r_[-30.0, np.zeros(k_infl - 1)]
            self.params_, self.alpha_ = nb["params"], nb["alpha"]
            self.bse_ = np.full(k_infl + len(nb["params"]) + 1, np.nan)
            self.llf_, self.converged_, self.fit_method_ = nb["llf"], False, f"nb:{nb['method']}"
            self.notes_.append("zero-inflated fit failed: structural zeros switched off (NB2 fit)")
        else:
            res, method, converged = best
            params = np.asarray(res.params)
            self.gamma_ = params[:k_infl]
            self.params_ = params[k_infl:-1]
            self.alpha_ = float(np.clip(params[-1], 1e-8, None))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.bse_ = np.asarray(res.bse, dtype=np.float64)
            self.llf_, self.converged_, self.fit_method_ = float(res.llf), converged, method
        self.aic_ = float(-2.0 * self.llf_ + 2.0 * (len(self.gamma_) + len(self.params_) + 1))
        self.n_obs_ = int(len(yf))
        return self

    def inflation_logit(self, X: pd.DataFrame) -> np.ndarray:
        return np.clip(self.inflation_design_.transform(X) @ self.gamma_, -30.0, 30.0)

    def predict_pi(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of a structural zero (no violent event over the horizon whatever the NB draw)."""
        return special.expit(self.inflation_logit(X))

    def predict(self, X: pd.DataFrame) -> ZeroInflated:
        mu = np.exp(np.clip(self.design_.transform(X) @ self.params_, _ETA_MIN, _ETA_MAX))
        return ZeroInflated(NegativeBinomial(mu, self.alpha_), self.predict_pi(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature additive terms of log E[count] relative to the training average (see class doc)."""
        count = self.design_.collapse(self.design_.transform(X, intercept=False) * self.params_[1:], X.index)
        w_terms = self.inflation_design_.transform(X, intercept=False) * self.gamma_[1:]
        eta, g0 = self.inflation_logit(X), self.gamma_[0]
        d = eta - g0
        slope = np.where(np.abs(d) > 1e-8,
                         -(np.logaddexp(0.0, eta) - np.logaddexp(0.0, g0)) / np.where(np.abs(d) > 1e-8, d, 1.0),
                         -special.expit(eta))
        infl = self.inflation_design_.collapse(w_terms * slope[:, None], X.index)
        cols = list(dict.fromkeys([*count.columns, *infl.columns]))
        return count.reindex(columns=cols, fill_value=0.0).add(infl.reindex(columns=cols, fill_value=0.0))

    def coefficients(self) -> pd.DataFrame:
        terms = ([f"inflate:{t}" for t in ["intercept", *self.inflation_design_.terms_]]
                 + ["intercept", *self.design_.terms_, "alpha"])
        return pd.DataFrame({"term": terms, "coef": [*self.gamma_, *self.params_, self.alpha_], "std_err": self.bse_})


# --------------------------------------------------------------------------------------------------
# LightGBM helpers (shared with models.hazard)
# --------------------------------------------------------------------------------------------------


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
    train = lgb.Dataset(Xm, label=y, feature_name=features, free_raw_data=True)
    if valid is None:
        return lgb.train(params, train, num_boost_round=n_estimators)
    dvalid = lgb.Dataset(valid[0], label=valid[1], reference=train)
    return lgb.train(params, train, num_boost_round=n_estimators, valid_sets=[dvalid],
                     callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)])


# --------------------------------------------------------------------------------------------------
# LightGBM count model
# --------------------------------------------------------------------------------------------------


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


class LightGBMCount(BoosterExplanations):
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
    rows with the best number of rounds. ``features=None`` uses every numeric column of X except the
    keys and targets; ``n_jobs`` is LightGBM's thread count (0 = its default). ``contributions`` are SHAP
    values (LightGBM ``pred_contrib``) on the log-mean scale; their row sum plus ``expected_log_mean_`` is
    the row's log mean.
    """

    def __init__(self, horizon: int, features: list[str] | None = None, *, objective: str = "poisson",
                 tweedie_variance_power: float = 1.5, num_leaves: int = 15, learning_rate: float = 0.05,
                 n_estimators: int = 300, min_child_samples: int = 50, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, seed: int = 0,
                 valid_weeks: int | None = None, early_stopping_rounds: int = 30, dispersion: str = "scalar",
                 dispersion_bins: int = 5, dispersion_folds: int = 3, n_jobs: int = 0, name: str | None = None):
        if objective not in ("poisson", "tweedie"):
            raise ValueError(f"objective must be 'poisson' or 'tweedie', not {objective!r}")
        if dispersion not in ("scalar", "binned", "poisson"):
            raise ValueError(f"dispersion must be 'scalar', 'binned' or 'poisson', not {dispersion!r}")
        self.horizon = horizon
        self.requested_features = None if features is None else list(features)
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

    @property
    def features(self) -> list[str] | None:
        """The features the fitted model reads (before fitting: the requested list, None = all numeric)."""
        return getattr(self, "features_", self.requested_features)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "LightGBMCount":
        y = np.asarray(y, dtype=np.float64)
        rows = np.isfinite(y) & (y >= 0)
        X, y = X[rows], y[rows]
        req = self.requested_features
        self.features_ = list(req) if req is not None else numeric_feature_columns(X)
        missing = [f for f in self.features_ if f not in X.columns]
        if missing:
            raise KeyError(f"feature columns missing from X: {missing}")
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



# --------------------------------------------------------------------------------------------------
# Gradient boosting from a baseline count model
# --------------------------------------------------------------------------------------------------


class BoostedCount:
    """LightGBM corrections on top of a base count model: log mean = log base mean + f(X), f a small
    boosted ensemble (Poisson objective, LightGBM ``init_score`` = the base model's log mean), NB2 predictive.

    The base model (default :class:`SelfExcitingNB`) is fitted on the same rows first; the trees then learn
    multiplicative corrections from ``features`` (None = every numeric column, or those starting with one of
    ``feature_prefixes``), shrunk by a small learning rate, few rounds, large leaves and an L2 penalty, so
    with little signal the model stays at the base. Boosting from the base is what lets the trees follow a
    level of violence they never saw: on their own (:class:`LightGBMCount`) they predict within the range
    of the training targets and fell behind the escalation of 2016-2017 in the validation backtest.
    Rows can be recency-weighted (``half_life_weeks``). Dispersion as in :class:`SelfExcitingNB`
    ("crps" on the last ``dispersion_weeks`` training weeks, "ml", or a number).

    ``contributions`` are the base model's terms plus the trees' SHAP values (``pred_contrib``) per
    feature, summed where a feature is in both, and ``boosting_average`` (the trees' mean correction);
    their row sum plus ``expected_log_mean_`` is the log mean.
    """

    def __init__(self, horizon: int, base=None, features: Sequence[str] | None = None, *,
                 feature_prefixes: Sequence[str] | None = None, n_estimators: int = 100,
                 learning_rate: float = 0.03, num_leaves: int = 7, min_child_samples: int = 200,
                 subsample: float = 0.8, colsample_bytree: float = 0.5, reg_lambda: float = 10.0,
                 half_life_weeks: float | None = None, dispersion: str | float = "crps",
                 dispersion_weeks: int | None = 104, alpha_grid: Sequence[float] = DEFAULT_ALPHA_GRID, seed: int = 0,
                 n_jobs: int = 1, name: str = "lgbm_boost"):
        self.horizon = int(horizon)
        self.base = base if base is not None else SelfExcitingNB(horizon)
        self.requested_features = None if features is None else list(features)
        self.feature_prefixes = None if feature_prefixes is None else tuple(feature_prefixes)
        self.n_estimators, self.learning_rate, self.num_leaves = n_estimators, learning_rate, num_leaves
        self.min_child_samples, self.subsample, self.colsample_bytree = min_child_samples, subsample, colsample_bytree
        self.reg_lambda, self.half_life_weeks, self.seed, self.n_jobs = reg_lambda, half_life_weeks, seed, n_jobs
        self.dispersion, self.dispersion_weeks, self.alpha_grid = dispersion, dispersion_weeks, tuple(alpha_grid)
        self.name = name

    @property
    def features(self) -> list[str] | None:
        if hasattr(self, "features_"):
            return list(dict.fromkeys([*self.base.features, *self.features_]))
        return self.requested_features

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "BoostedCount":
        y = np.asarray(y, dtype=np.float64)
        rows = np.isfinite(y) & (y >= 0)
        X, y = X[rows], y[rows]
        self.base.fit(X, y)
        if self.requested_features is not None:
            self.features_ = list(self.requested_features)
        else:
            self.features_ = [c for c in numeric_feature_columns(X)
                              if self.feature_prefixes is None or c.startswith(self.feature_prefixes)]
        missing = [f for f in self.features_ if f not in X.columns]
        if missing:
            raise KeyError(f"feature columns missing from X: {missing}")
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
        return np.clip(self.base.log_mean(X) + boost, _ETA_MIN, _ETA_MAX)

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
