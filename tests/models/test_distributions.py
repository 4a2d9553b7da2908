import numpy as np

from models.distributions import NegativeBinomial


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
