"""The NB2 likelihood and fits: against scipy and statsmodels, and recovery of known dispersions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from models.nb2 import (
    crps_alpha,
    fit_nb2,
    nb2_alpha_mle,
    nb2_dlog_pmf_dsize,
    nb2_log_pmf,
    nb2_loglik,
)


def nb_draw(rng: np.random.Generator, mu: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """NB2 counts: gamma-Poisson mixture with mean mu and variance mu + alpha mu^2."""
    alpha = np.broadcast_to(alpha, mu.shape)
    return rng.poisson(rng.gamma(1.0 / alpha, alpha * mu)).astype(np.float64)


def test_the_one_nb2_log_pmf_matches_scipy_and_its_size_derivative():
    y = np.array([0.0, 1.0, 4.0, 30.0, 250.0])
    mu = np.array([0.3, 2.0, 4.0, 12.0, 180.0])
    alpha = np.array([0.1, 0.5, 1.0, 2.0, 0.05])
    r = 1.0 / alpha
    got = nb2_log_pmf(y, r, np.log(alpha * mu), np.log1p(alpha * mu))
    np.testing.assert_allclose(got, stats.nbinom.logpmf(y, r, r / (r + mu)), rtol=1e-12)
    np.testing.assert_allclose(nb2_loglik(y, mu, alpha), got)
    np.testing.assert_allclose(nb2_loglik(y, mu, 0.0), stats.poisson.logpmf(y, mu))  # the Poisson limit
    h = 1e-6 * r
    at = lambda rr: nb2_log_pmf(y, rr, np.log(mu / rr), np.log1p(mu / rr))  # noqa: E731 - mean fixed, size moves
    np.testing.assert_allclose(nb2_dlog_pmf_dsize(y, r, mu, np.log1p(alpha * mu)), (at(r + h) - at(r - h)) / (2 * h),
                               rtol=1e-5, atol=1e-9)


def test_nb2_alpha_mle_recovers_dispersion_and_poisson_limit():
    rng = np.random.default_rng(5)
    mu = rng.gamma(2.0, 2.0, 20_000)
    assert nb2_alpha_mle(nb_draw(rng, mu, 0.8), mu) == pytest.approx(0.8, rel=0.08)
    assert nb2_alpha_mle(rng.poisson(mu).astype(float), mu) < 0.02


def test_fit_nb2_returns_standard_errors_matching_statsmodels():
    rng = np.random.default_rng(2)
    D = np.column_stack([np.ones(3000), rng.normal(size=(3000, 2))])
    y = nb_draw(rng, np.exp(D @ [0.5, 0.8, -0.4]), 0.7)
    sm_fit, direct = fit_nb2(y, D), fit_nb2(y, D, maxiter=1)
    assert sm_fit["method"] == "bfgs" and direct["method"] == "lbfgs"
    np.testing.assert_allclose(direct["bse"], sm_fit["bse"], rtol=0.02)


def test_crps_alpha_is_the_grid_minimiser():
    rng = np.random.default_rng(2)
    mu = rng.gamma(2.0, 1.0, 20000)
    y = nb_draw(rng, mu, 0.8)
    assert crps_alpha(y, mu) in (0.65, 0.8, 1.0)
    assert crps_alpha(rng.poisson(mu).astype(float), mu) <= 0.05


def test_the_log_pmf_skips_no_term_where_counts_are_zero_and_the_poisson_limit_is_poissons():
    from scipy import special, stats

    from models.nb2 import nb2_dlog_pmf_dsize, nb2_log_pmf, nb2_loglik

    rng = np.random.default_rng(3)
    y = rng.poisson(0.4, 5_000).astype(float)
    y[7] = np.nan  # a missing count stays missing
    mu, alpha = rng.gamma(1.0, 0.5, 5_000), 0.6
    r, log_amu, log1p_amu = 1 / alpha, np.log(alpha * mu), np.log1p(alpha * mu)
    full = special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1.0) - r * log1p_amu + y * (log_amu - log1p_amu)
    assert np.array_equal(nb2_log_pmf(y, r, log_amu, log1p_amu), full, equal_nan=True)
    score = special.digamma(y + r) - special.digamma(r) - log1p_amu + (mu - y) / (r + mu)
    assert np.array_equal(nb2_dlog_pmf_dsize(y, r, mu, log1p_amu), score, equal_nan=True)
    counts = np.nan_to_num(y)
    np.testing.assert_allclose(nb2_loglik(counts, mu, 0.0), stats.poisson.logpmf(counts, mu), rtol=1e-12)
