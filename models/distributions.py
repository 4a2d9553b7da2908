"""Predictive distributions for counts, as arrays: one distribution per row (district-week).

Every count model returns a :class:`CountDistribution`; backtests, publishing and ensembles only use its
methods, never the model that made it.

* :class:`NegativeBinomial` - NB2 (Poisson when alpha = 0);
* :class:`Empirical` - equally weighted samples (the conflictology baseline);
* :class:`ZeroInflated` - structural zeros mixed with an NB2 (the zero-inflated GLM).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from scipy import stats

from models.crps import crps_negbinom, crps_poisson, crps_sorted_ensemble


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
            pois = crps_poisson(y, self._mu)
            nb = crps_negbinom(y, self._n, self._mu)
        out = np.where(self._poisson | ~np.isfinite(nb), pois, nb)
        bad = ~np.isfinite(out)
        if bad.any():  # the closed forms overflow for very large counts: sum (F(k) - 1{y <= k})^2 over the support
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


class ByRows(CountDistribution):
    """Rows of several distributions as one: row ``positions[p][j]`` of the whole is row j of ``parts[p]``
    (the positions of all parts cover 0 .. n - 1 once each)."""

    def __init__(self, parts: Sequence[CountDistribution], positions: Sequence[np.ndarray]):
        self.parts, self.positions = list(parts), [np.asarray(p, dtype=np.int64) for p in positions]
        self.n = int(sum(len(p) for p in self.positions))

    def _gather(self, value, arg=None) -> np.ndarray:
        out = np.empty(self.n, dtype=np.float64)
        for part, rows in zip(self.parts, self.positions, strict=True):
            out[rows] = value(part) if arg is None else value(part, _rows_of(arg, rows))
        return out

    @property
    def mean(self) -> np.ndarray:
        return self._gather(lambda d: d.mean)

    def cdf(self, k) -> np.ndarray:
        return self._gather(lambda d, kk: d.cdf(kk), k)

    def quantile(self, q: float) -> np.ndarray:
        return self._gather(lambda d: d.quantile(q))

    def crps(self, y) -> np.ndarray:
        return self._gather(lambda d, yy: d.crps(yy), y)

    def log_score(self, y) -> np.ndarray:
        return self._gather(lambda d, yy: d.log_score(yy), y)


def _rows_of(value, rows: np.ndarray):
    """``value`` at ``rows`` when it is per row (an array), else as it is (a scalar)."""
    return np.asarray(value)[rows] if np.ndim(value) else value


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
        return crps_sorted_ensemble(y, self.samples)

    def log_score(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        m = self.samples.shape[1]
        p = ((self.samples == y[:, None]).sum(axis=1) + 0.5 / m) / (m + 0.5)  # smoothed so unseen counts stay finite
        return -np.log(p)


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
