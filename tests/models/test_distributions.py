import numpy as np
import pytest
import scoringrules as sr

from models.distributions import NegativeBinomial, ZeroInflated, nb2_cdf_grid


def _brute_crps(dist, y, top=600):
    k = np.arange(top)
    cdf = np.column_stack([dist.cdf(np.full(len(y), kk)) for kk in k])
    return ((cdf - (y[:, None] <= k[None, :])) ** 2).sum(axis=1)


def test_crps_matches_the_discrete_definition_including_large_counts():
    dist = NegativeBinomial(np.array([0.1, 2.0, 1.0, 180.0, 3.0]), np.array([0.5, 0.0, 0.0, 0.0, 0.3]))
    y = np.array([0.0, 3.0, 200.0, 200.0, 250.0])  # scoringrules' Poisson CRPS overflows for the large ones
    got = dist.crps(y)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, _brute_crps(dist, y), rtol=1e-6)


def test_intervals_and_tail_probabilities():
    dist = NegativeBinomial(np.array([2.0]), 0.0)
    lo, hi = dist.interval(0.9)
    assert lo[0] == 0 and hi[0] == 5
    np.testing.assert_allclose(dist.prob_at_least(1), 1 - np.exp(-2.0))


# ZeroInflated


@pytest.fixture(scope="module")
def zi_dist():
    rng = np.random.default_rng(7)
    n = 400
    mu, alpha, pi = rng.gamma(2.0, 3.0, n), rng.uniform(0.0, 2.0, n), rng.uniform(0.0, 0.8, n)
    alpha[:40] = 0.0  # Poisson rows
    return ZeroInflated(NegativeBinomial(mu, alpha), pi), rng.poisson(mu * 1.2).astype(np.float64)


def test_zero_inflated_cdf_mean_and_log_score(zi_dist):
    dist, y = zi_dist
    base, pi = dist.base, dist.pi
    np.testing.assert_allclose(dist.mean, (1 - pi) * base.mean)
    np.testing.assert_allclose(dist.cdf(0), pi + (1 - pi) * base.cdf(0))
    np.testing.assert_allclose(dist.cdf(-1), 0.0)
    pmf_y = np.where(y == 0, pi + (1 - pi) * base.cdf(0), (1 - pi) * (base.cdf(y) - base.cdf(y - 1)))
    np.testing.assert_allclose(dist.log_score(y), -np.log(pmf_y), rtol=1e-8)
    grid = nb2_cdf_grid(base.mean, base.alpha, 60)
    np.testing.assert_allclose(grid[:, 17], base.cdf(17), atol=1e-10)


def test_zero_inflated_quantile_inverts_cdf(zi_dist):
    dist, _ = zi_dist
    for q in (0.05, 0.3, 0.5, 0.9, 0.99):
        k = dist.quantile(q)
        assert np.all(dist.cdf(k) >= q - 1e-12)
        assert np.all((k == 0) | (dist.cdf(k - 1) < q))
    assert np.all(dist.quantile(0.5)[dist.pi >= 0.5] == 0)


def test_zero_inflated_crps_matches_mixture_identity_and_nb(zi_dist):
    dist, y = zi_dist
    base, pi, mu = dist.base, dist.pi, dist.base.mean
    # CRPS of a mixture: E|X - y| - E|X - X'| / 2, with the NB terms from its own CRPS at 0 and y
    e_zz = 2.0 * (mu - base.crps(np.zeros_like(y)))
    closed = pi * y + (1 - pi) * (base.crps(y) + 0.5 * e_zz) - pi * (1 - pi) * mu - 0.5 * (1 - pi) ** 2 * e_zz
    np.testing.assert_allclose(dist.crps(y), closed, rtol=1e-6, atol=1e-8)
    no_zeros = ZeroInflated(base, 0.0)
    np.testing.assert_allclose(no_zeros.crps(y), base.crps(y), rtol=1e-6, atol=1e-8)
    samples = np.where(np.random.default_rng(0).uniform(size=(len(y), 4000)) < pi[:, None], 0.0,
                       np.random.default_rng(1).poisson(mu[:, None], (len(y), 4000)))
    poisson_rows = base.alpha == 0
    ens = sr.crps_ensemble(y[poisson_rows], samples[poisson_rows])
    np.testing.assert_allclose(dist.crps(y)[poisson_rows], ens, rtol=0.08, atol=0.02)
