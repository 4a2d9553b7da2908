import numpy as np
import scoringrules as sr

from models.crps import crps_negbinom, crps_poisson, crps_sorted_ensemble

Y = np.array([0.0, 0.0, 1.0, 2.0, 3.0, 7.0, 12.0, 40.0])
MU = np.array([0.01, 0.8, 0.5, 2.0, 6.0, 7.0, 3.0, 35.0])


def test_poisson_matches_scoringrules():
    np.testing.assert_allclose(crps_poisson(Y, MU), sr.crps_poisson(Y, MU), rtol=1e-9, atol=1e-12)


def test_poisson_stays_finite_where_the_unscaled_bessel_form_overflows():
    y, mu = np.array([200.0, 250.0]), np.array([190.0, 260.0])
    ours = crps_poisson(y, mu)
    support = np.arange(0, 600)
    from scipy import stats
    by_sum = ((stats.poisson.cdf(support[None, :], mu[:, None]) - (y[:, None] <= support[None, :])) ** 2).sum(axis=1)
    np.testing.assert_allclose(ours, by_sum, rtol=1e-6)


def test_negative_binomial_matches_scoringrules():
    n = np.array([0.5, 2.0, 1.0, 10.0, 0.3, 4.0, 1.5, 2.5])
    np.testing.assert_allclose(crps_negbinom(Y, n, MU), sr.crps_negbinom(Y, n, mu=MU), rtol=1e-9, atol=1e-12)


def test_sorted_ensemble_matches_scoringrules():
    rng = np.random.default_rng(3)
    samples = np.sort(rng.poisson(3.0, size=(len(Y), 13)).astype(float), axis=1)
    np.testing.assert_allclose(crps_sorted_ensemble(Y, samples), sr.crps_ensemble(Y, samples, sorted_ensemble=True),
                               rtol=1e-12, atol=1e-12)
