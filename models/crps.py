"""Closed-form CRPS of the count distributions Vigie forecasts, on arrays (events, same units as y).

The formulas are scoringrules' (Wei & Held 2014 for the Poisson and negative binomial; the energy form for an
ensemble), written with scipy so that scoring a backtest does not import scoringrules: importing it builds
every numba kernel it ships (3 to 7 s per process, more than a whole weekly scoring step). The Poisson form
uses the exponentially scaled Bessel functions, so it stays finite for means where exp(-2 mu) I0(2 mu)
overflows. ``tests/models/test_crps.py`` checks every function against scoringrules.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats


def crps_poisson(y, mu) -> np.ndarray:
    """CRPS of Poisson(mu) at y: (y - mu)(2F(y) - 1) + 2 mu f(floor y) - mu e^{-2mu}(I0(2mu) + I1(2mu))."""
    y, mu = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(mu, dtype=np.float64))
    with np.errstate(all="ignore"):
        return ((y - mu) * (2.0 * stats.poisson.cdf(y, mu) - 1.0) + 2.0 * mu * stats.poisson.pmf(np.floor(y), mu)
                - mu * (special.i0e(2.0 * mu) + special.i1e(2.0 * mu)))


def crps_negbinom(y, n, mu) -> np.ndarray:
    """CRPS of the negative binomial with size n and mean mu (p = n / (n + mu)) at y; NaN where the
    hypergeometric term overflows (very large means), which callers score by summation instead."""
    y, n, mu = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (y, n, mu)))
    with np.errstate(all="ignore"):
        p = n / (n + mu)
        f_np = stats.nbinom.cdf(y, n, p)
        f_n1p = stats.nbinom.cdf(y - 1.0, n + 1.0, p)
        f2 = special.hyp2f1(n + 1.0, 0.5, 2.0, -4.0 * (1.0 - p) / p**2)
        return y * (2.0 * f_np - 1.0) - n * (1.0 - p) * (p * (2.0 * f_n1p - 1.0) + f2) / p**2


def crps_sorted_ensemble(y, samples) -> np.ndarray:
    """CRPS of an ensemble (rows of ``samples`` sorted ascending, one row per y) in the energy form
    E|X - y| - E|X - X'| / 2 with the 1/M^2 estimator (scoringrules' default)."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(samples, dtype=np.float64)
    m = x.shape[-1]
    weights = (2.0 * np.arange(1, m + 1) - m - 1.0) / m**2
    return np.abs(x - y[..., None]).mean(axis=-1) - x @ weights
