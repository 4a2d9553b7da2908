"""Array maths for district-week features: every function takes ``(n_districts, n_weeks)`` arrays of weekly
values and returns an array of the same shape whose column t uses only columns before t (strictly past weeks).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def past_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of the ``window`` weeks before each week: out[:, t] = x[:, t-window:t].sum(1) (partial at the start)."""
    cs = np.zeros((x.shape[0], x.shape[1] + 1), dtype=np.float64)
    np.cumsum(x, axis=1, out=cs[:, 1:])
    t = np.arange(x.shape[1])
    return (cs[:, t] - cs[:, np.maximum(t - window, 0)]).astype(np.float32)


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """Value of the week k weeks before: out[:, t] = x[:, t-k] (0 before the panel starts)."""
    out = np.zeros_like(x, dtype=np.float32)
    if k < x.shape[1]:
        out[:, k:] = x[:, : x.shape[1] - k]
    return out


def decayed_sum(x: np.ndarray, half_life: float) -> np.ndarray:
    """Exponentially decayed sum of past weeks: out[:, t] = sum_{k>=1} x[:, t-k] * 0.5 ** ((k-1) / half_life)."""
    r = 0.5 ** (1.0 / half_life)
    y = lfilter([1.0], [1.0, -r], x.astype(np.float64), axis=1)
    return lag(y, 1)


def weeks_since(x: np.ndarray, cap: int) -> np.ndarray:
    """Weeks since the last week before t with x > 0 (1 = the week just before), capped at ``cap``."""
    n_w = x.shape[1]
    idx = np.where(x > 0, np.arange(n_w)[None, :], -(10**9))
    last = np.maximum.accumulate(idx, axis=1)
    last_before = np.full_like(last, -(10**9))
    last_before[:, 1:] = last[:, :-1]
    return np.minimum(np.arange(n_w)[None, :] - last_before, cap).astype(np.float32)


def future_sum(x: np.ndarray, horizon: int) -> np.ndarray:
    """Target: sum of weeks t .. t+horizon-1 (NaN where those weeks are not all in the panel)."""
    cs = np.zeros((x.shape[0], x.shape[1] + 1), dtype=np.float64)
    np.cumsum(x, axis=1, out=cs[:, 1:])
    n_w = x.shape[1]
    out = np.full(x.shape, np.nan, dtype=np.float64)
    if horizon <= n_w:
        out[:, : n_w - horizon + 1] = cs[:, horizon:] - cs[:, : n_w - horizon + 1]
    return out
