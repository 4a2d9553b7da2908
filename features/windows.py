"""Array maths for district-week features: every function takes ``(n_districts, n_weeks)`` arrays of weekly
values and returns an array of the same shape whose column t uses only columns before t (strictly past
weeks), except :func:`future_sum`, which builds targets from weeks t onwards.

Sums are accumulated in float64 (exact for counts) and returned as float32. A ``(1, n_weeks)`` array (a
national series) works the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _cumsum0(x: np.ndarray) -> np.ndarray:
    """cs[:, k] = x[:, :k].sum(1), shape (n, n_weeks + 1), float64."""
    cs = np.zeros((x.shape[0], x.shape[1] + 1), dtype=np.float64)
    np.cumsum(x, axis=1, out=cs[:, 1:])
    return cs


def _past_from_cumsum(cs: np.ndarray, window: int) -> np.ndarray:
    """out[:, t] = cs[:, t] - cs[:, t - window] (cs[:, t] alone while t < window), rounded once to float32."""
    n_w = cs.shape[1] - 1
    k = min(window, n_w)
    out = np.empty((cs.shape[0], n_w), dtype=np.float32)
    out[:, :k] = cs[:, :k]
    np.subtract(cs[:, k:n_w], cs[:, : n_w - k], out=out[:, k:], casting="same_kind")
    return out


def past_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of the ``window`` weeks before each week: out[:, t] = x[:, t-window:t].sum(1) (partial at the start)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return _past_from_cumsum(_cumsum0(x), window)


def past_sums(x: np.ndarray, windows: Sequence[int]) -> dict[int, np.ndarray]:
    """:func:`past_sum` for several windows, sharing one cumulative sum."""
    if any(w < 1 for w in windows):
        raise ValueError(f"windows must be >= 1, got {tuple(windows)}")
    cs = _cumsum0(x)
    return {w: _past_from_cumsum(cs, w) for w in windows}


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """Value of the week k weeks before: out[:, t] = x[:, t-k] (0 before the panel starts)."""
    out = np.zeros(x.shape, dtype=np.float32)
    if k < x.shape[1]:
        out[:, k:] = x[:, : x.shape[1] - k]
    return out


def decayed_sum(x: np.ndarray, half_life: float) -> np.ndarray:
    """Exponentially decayed sum of past weeks: out[:, t] = sum_{k>=1} x[:, t-k] * 0.5 ** ((k-1) / half_life)."""
    if half_life <= 0:
        raise ValueError(f"half_life must be > 0, got {half_life}")
    return lag(_decay_scan(x.astype(np.float64), 0.5 ** (1.0 / half_life)), 1)


def _decay_scan(y: np.ndarray, r: float) -> np.ndarray:
    """y[:, t] = sum_{j>=0} r**j * x[:, t-j], in place on ``y`` (= x) by doubling: after the pass of offset k the
    sum holds the last 2k terms, so log2(weeks) whole-array passes (scipy.signal.lfilter does it in one, but
    importing scipy.signal costs about a second of every run)."""
    step = 1
    while step < y.shape[1]:
        y[:, step:] += r**step * y[:, :-step]
        step *= 2
    return y


def weeks_since(x: np.ndarray, cap: int) -> np.ndarray:
    """Weeks since the last week before t with x > 0 (1 = the week just before), capped at ``cap``.

    ``cap`` also means "none within the panel".
    """
    n_w = x.shape[1]
    never = -(10**9)
    idx = np.where(x > 0, np.arange(n_w, dtype=np.int64)[None, :], never)
    last = np.maximum.accumulate(idx, axis=1)
    last_before = np.full_like(last, never)
    last_before[:, 1:] = last[:, :-1]
    return np.minimum(np.arange(n_w)[None, :] - last_before, cap).astype(np.float32)


def log_ratio_trend(short_sum: np.ndarray, short: int, long_sum: np.ndarray, long: int,
                    offset: float = 0.1) -> np.ndarray:
    """Trend of the recent weekly rate against the longer one: log((s/short + offset) / (l/long + offset)).

    ``short_sum`` and ``long_sum`` are :func:`past_sum` of the same series over ``short`` and ``long``
    weeks; ``offset`` (per week, in the series' unit) keeps the ratio finite where both are zero (0 then).
    """
    num = short_sum.astype(np.float64) / short + offset
    den = long_sum.astype(np.float64) / long + offset
    return np.log(num / den).astype(np.float32)


def future_sum(x: np.ndarray, horizon: int) -> np.ndarray:
    """Target: sum of weeks t .. t+horizon-1 (NaN where those weeks are not all in the panel)."""
    cs = _cumsum0(x)
    n_w = x.shape[1]
    out = np.full(x.shape, np.nan, dtype=np.float64)
    if horizon <= n_w:
        out[:, : n_w - horizon + 1] = cs[:, horizon:] - cs[:, : n_w - horizon + 1]
    return out
