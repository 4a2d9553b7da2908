"""Predictive distributions for counts, as arrays: one distribution per row (district-week).

Every count model returns a :class:`CountDistribution`; backtests, publishing and ensembles only use its
methods, never the model that made it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import scoringrules as sr
from scipy import stats


class CountDistribution(ABC):
    """A predictive distribution over non-negative integer counts for each of n rows."""

    @property
    @abstractmethod
    def mean(self) -> np.ndarray: ...

    @abstractmethod
    def cdf(self, k: np.ndarray | float) -> np.ndarray: ...

    @abstractmethod
    def quantile(self, q: float) -> np.ndarray: ...

    @abstractmethod
    def crps(self, y: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def log_score(self, y: np.ndarray) -> np.ndarray:
        """Negative log probability of the observed count (lower is better)."""

    def prob_at_least(self, k: int) -> np.ndarray:
        """P(count >= k)."""
        return 1.0 - self.cdf(k - 1) if k > 0 else np.ones_like(self.mean)

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central interval holding ``level`` of the probability (lower and upper counts, inclusive)."""
        tail = (1.0 - level) / 2.0
        return self.quantile(tail), self.quantile(1.0 - tail)

    def pit(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Randomised probability integral transform: uniform on [0, 1] when the forecasts are calibrated."""
        y = np.asarray(y, dtype=np.float64)
        lo = np.where(y > 0, self.cdf(y - 1), 0.0)
        return lo + rng.uniform(size=y.shape) * (self.cdf(y) - lo)


class NegativeBinomial(CountDistribution):
    """NB2: mean mu, variance mu + alpha * mu**2 (alpha = 0 gives the Poisson distribution)."""

    def __init__(self, mu: np.ndarray, alpha: np.ndarray | float):
        self._mu = np.clip(np.asarray(mu, dtype=np.float64), 1e-9, None)
        self.alpha = np.broadcast_to(np.clip(np.asarray(alpha, dtype=np.float64), 0.0, None), self._mu.shape)
        self._poisson = self.alpha < 1e-8
        n = 1.0 / np.where(self._poisson, 1.0, self.alpha)
        self._n, self._p = n, n / (n + self._mu)

    @property
    def mean(self) -> np.ndarray:
        return self._mu

    def cdf(self, k) -> np.ndarray:
        k = np.broadcast_to(np.asarray(k, dtype=np.float64), self._mu.shape)
        return np.where(self._poisson, stats.poisson.cdf(k, self._mu), stats.nbinom.cdf(k, self._n, self._p))

    def quantile(self, q: float) -> np.ndarray:
        return np.where(self._poisson, stats.poisson.ppf(q, self._mu), stats.nbinom.ppf(q, self._n, self._p))

    def crps(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        with np.errstate(all="ignore"):
            pois = sr.crps_poisson(y, self._mu)
            nb = sr.crps_negbinom(y, self._n, mu=self._mu)
        out = np.where(self._poisson | ~np.isfinite(nb), pois, nb)
        bad = ~np.isfinite(out)
        if bad.any():  # scoringrules overflows for large counts: sum (F(k) - 1{y <= k})^2 over the support
            out = out.copy()
            out[bad] = self._crps_by_summation(np.flatnonzero(bad), y[bad])
        return out

    def _crps_by_summation(self, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
        sub = NegativeBinomial(self._mu[rows], self.alpha[rows])
        top = int(np.nanmax(np.maximum(sub.quantile(1 - 1e-10), y))) + 2
        k = np.arange(top + 1, dtype=np.float64)
        cdf = np.column_stack([sub.cdf(np.full(len(rows), kk)) for kk in k])
        return ((cdf - (y[:, None] <= k[None, :])) ** 2).sum(axis=1)

    def log_score(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        return -np.where(self._poisson, stats.poisson.logpmf(y, self._mu), stats.nbinom.logpmf(y, self._n, self._p))


class Empirical(CountDistribution):
    """Equally weighted samples per row (``samples`` has shape (n_rows, n_samples))."""

    def __init__(self, samples: np.ndarray):
        self.samples = np.sort(np.asarray(samples, dtype=np.float64), axis=1)

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=1)

    def cdf(self, k) -> np.ndarray:
        k = np.broadcast_to(np.asarray(k, dtype=np.float64), (self.samples.shape[0],))
        return (self.samples <= k[:, None]).mean(axis=1)

    def quantile(self, q: float) -> np.ndarray:
        return np.quantile(self.samples, q, axis=1, method="inverted_cdf")

    def crps(self, y) -> np.ndarray:
        return sr.crps_ensemble(np.asarray(y, dtype=np.float64), self.samples, sorted_ensemble=True)

    def log_score(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        m = self.samples.shape[1]
        p = ((self.samples == y[:, None]).sum(axis=1) + 0.5 / m) / (m + 0.5)  # smoothed so unseen counts stay finite
        return -np.log(p)
