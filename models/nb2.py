"""The NB2 (negative binomial, variance mu + alpha mu^2) likelihood and the fits built on it.

:func:`nb2_log_pmf` is the one copy of the NB2 log-probability (and :func:`nb2_dlog_pmf_dsize` of its
derivative in the size r = 1 / alpha); the per-row log-likelihood :func:`nb2_loglik`, the regression
objective of :func:`fit_nb2` and the self-exciting model's objective (:mod:`models.self_exciting`) all call
them. Also: the ML dispersion for fixed means (:func:`nb2_alpha_mle`) and the CRPS-best dispersion of a grid
(:func:`crps_alpha`). Means are expected counts over a model's horizon; log means are clipped to
[:data:`ETA_MIN`, :data:`ETA_MAX`].
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special

from models.distributions import NegativeBinomial

#: Log-mean clip of every count model: exp(12) ~ 160 000 events.
ETA_MIN, ETA_MAX = -30.0, 12.0
#: Bounds of log(alpha) in the NB2 fits: alpha from 1e-8 (Poisson, for every practical purpose) to 1e3.
LOG_ALPHA_MIN, LOG_ALPHA_MAX = np.log(1e-8), np.log(1e3)
#: Candidate NB2 dispersions for a CRPS choice of alpha (alpha = 0: Poisson).
DEFAULT_ALPHA_GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0)


def nb2_log_pmf(y: np.ndarray, r: np.ndarray | float, log_amu: np.ndarray, log1p_amu: np.ndarray) -> np.ndarray:
    """log P(Y = y) of an NB2 with size r = 1 / alpha and mean mu, given log(alpha mu) and log(1 + alpha mu):
    lgamma(y + r) - lgamma(r) - lgamma(y + 1) - r log(1 + alpha mu) + y (log(alpha mu) - log(1 + alpha mu))."""
    return _where_counted(y, r, _lgamma_terms) - r * log1p_amu + y * (log_amu - log1p_amu)


def nb2_dlog_pmf_dsize(y: np.ndarray, r: np.ndarray | float, mu: np.ndarray, log1p_amu: np.ndarray) -> np.ndarray:
    """d log P(Y = y) / d r at fixed mean mu (r = 1 / alpha the NB2 size)."""
    return _where_counted(y, r, _digamma_terms) - log1p_amu + (mu - y) / (r + mu)


def _lgamma_terms(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1.0)


def _digamma_terms(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return special.digamma(y + r) - special.digamma(r)


def _where_counted(y, r, term) -> np.ndarray:
    """``term(y, r)`` where y != 0 and exactly 0 where y == 0 (where the lgamma and digamma differences of the
    NB2 vanish): most district-weeks count no event, and these special functions are most of a fit's time."""
    shape = np.broadcast_shapes(np.shape(y), np.shape(r))
    yb = np.broadcast_to(np.asarray(y, dtype=np.float64), shape)
    rb = np.broadcast_to(np.asarray(r, dtype=np.float64), shape)
    out = np.zeros(shape)
    counted = yb != 0
    out[counted] = term(yb[counted], rb[counted])
    return out


def nb2_loglik(y: np.ndarray, mu: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """Per-row NB2 log-likelihood (mean mu, variance mu + alpha mu^2); alpha -> 0 is the Poisson limit."""
    y = np.asarray(y, dtype=np.float64)
    mu = np.clip(np.asarray(mu, dtype=np.float64), 1e-12, None)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), mu.shape)
    pois = alpha < 1e-8
    a = np.where(pois, 1.0, alpha)
    r = 1.0 / a
    nb = nb2_log_pmf(y, r, np.log(a * mu), np.log1p(a * mu))
    return np.where(pois, special.xlogy(y, mu) - mu - special.gammaln(y + 1.0), nb)  # Poisson log pmf


def nb2_alpha_mle(y: np.ndarray, mu: np.ndarray) -> float:
    """Maximum-likelihood NB2 dispersion alpha given fixed means (1e-8 .. 1e3; ~1e-8 = Poisson)."""
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(mu)
    y, mu = y[ok], mu[ok]
    if len(y) == 0:
        return 1.0
    res = optimize.minimize_scalar(lambda la: -nb2_loglik(y, mu, np.exp(la)).sum(),
                                   bounds=(LOG_ALPHA_MIN, LOG_ALPHA_MAX), method="bounded",
                                   options={"xatol": 1e-6})
    return float(np.exp(res.x))



def _nb2_objective(theta: np.ndarray, y: np.ndarray, D: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """Mean negative NB2 log-likelihood + l2/2 * |beta without intercept|^2, and its gradient.

    ``theta`` = (beta, log alpha).
    """
    beta, la = theta[:-1], float(np.clip(theta[-1], LOG_ALPHA_MIN, LOG_ALPHA_MAX))
    a = np.exp(la)
    r = 1.0 / a
    eta = np.clip(D @ beta, ETA_MIN, ETA_MAX)
    mu = np.exp(eta)
    amu = a * mu
    log1p_amu = np.log1p(amu)
    ll = nb2_log_pmf(y, r, la + eta, log1p_amu)
    n = len(y)
    g_beta = -D.T @ ((y - mu) / (1.0 + amu)) / n
    dll_dr = nb2_dlog_pmf_dsize(y, r, mu, log1p_amu)
    g_la = np.sum(dll_dr * r) / n  # d(-ll)/d(log alpha) = -dll/dr * dr/dla, with dr/dla = -r
    pen = np.r_[0.0, beta[1:]]
    value = -ll.mean() + 0.5 * l2 * float(pen @ pen)
    return value, np.r_[g_beta + l2 * pen, g_la]


def _poisson_start(y: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Poisson GLM coefficients (IRLS), or least squares on log(y + 0.1) if IRLS fails."""
    import statsmodels.api as sm  # imported by the fits that use it, not by every command

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
    import statsmodels.api as sm  # imported by the fits that use it, not by every command

    beta0 = _poisson_start(y, D)
    alpha0 = _moment_alpha(y, np.exp(np.clip(D @ beta0, ETA_MIN, ETA_MAX)))
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
    bounds = [(None, None)] * D.shape[1] + [(LOG_ALPHA_MIN, LOG_ALPHA_MAX)]
    res = optimize.minimize(_nb2_objective, theta0, args=(y, D, l2), jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": max(maxiter, 2000), "gtol": 1e-9, "ftol": 1e-13})
    if np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and (res.success or l2 > 0.0):
        beta, alpha, method, converged = res.x[:-1], float(np.exp(res.x[-1])), "lbfgs", bool(res.success)
    else:
        beta = beta0
        alpha = nb2_alpha_mle(y, np.exp(np.clip(D @ beta0, ETA_MIN, ETA_MAX)))
        method, converged = "poisson+alpha", False
    mu = np.exp(np.clip(D @ beta, ETA_MIN, ETA_MAX))
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


def crps_alpha(y: np.ndarray, mu: np.ndarray, grid: Sequence[float] = DEFAULT_ALPHA_GRID,
               weights: np.ndarray | None = None) -> float:
    """The NB2 dispersion of ``grid`` with the lowest (weighted) mean CRPS for counts ``y`` given means ``mu``."""
    y = np.asarray(y, dtype=np.float64)
    mu = np.clip(np.asarray(mu, dtype=np.float64), 1e-9, None)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(y) == 0:
        return float(grid[len(grid) // 2])
    with np.errstate(all="ignore"):  # the NB form overflows (NaN) for very large counts
        scores = np.array([np.sum(w * NegativeBinomial(mu, a).crps(y)) / np.sum(w) for a in grid])
    return float(grid[int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))])
