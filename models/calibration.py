"""Recalibration of probabilities and of predictive distributions, fitted out of sample.

* Probabilities (the major-attack risk score): a :class:`ProbabilityCalibrator` maps a model's probability to
  a calibrated one, fitted on out-of-fold predictions (isotonic regression, Platt scaling, or beta
  calibration, Kull et al. 2017: a logistic regression on ln p and -ln(1 - p)).
  :class:`RecalibratedHazard` wraps any hazard model: its ``fit`` makes walk-forward out-of-fold predictions
  over the last ``calibration_weeks`` of its training rows (the base model refitted at the start of each
  block, on rows whose target window closed before it), fits the calibrator on them, then fits the base
  model on all rows (as scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does).
* Predictive distributions (intervals): :func:`pit_levels` reads the levels that a model's own quantiles
  must be taken at for its central intervals to cover their nominal share of out-of-fold outcomes (the
  quantile recalibration of Kuleshov et al. 2018, on the randomised PIT of a count distribution).

The maths is on arrays; the wrapper only slices frames by week.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.protocol import HazardModel

METHODS = ("isotonic", "platt", "beta")
_EPS = 1e-6


@dataclass(frozen=True)
class ProbabilityCalibrator:
    """A fitted map p -> calibrated p (both probabilities of the same event over the same horizon).

    ``method`` "identity" (too few events to fit), "isotonic", "platt" (logistic on logit p) or "beta"
    (logistic on ln p and -ln(1 - p)). ``n_rows`` and ``n_events``: the out-of-fold rows it was fitted on.
    """

    method: str
    n_rows: int
    n_events: int
    model: object = None

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
        if self.method == "identity":
            return p
        if self.method == "isotonic":
            return np.clip(self.model.predict(p), 0.0, 1.0)
        return self.model.predict_proba(_calibration_design(p, self.method))[:, 1]


def _calibration_design(p: np.ndarray, method: str) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    if method == "platt":
        return special.logit(q)[:, None]
    return np.column_stack([np.log(q), -np.log1p(-q)])


def fit_calibrator(p: np.ndarray, event: np.ndarray, method: str, min_events: int = 20) -> ProbabilityCalibrator:
    """The ``method`` calibrator of probabilities ``p`` against the 0/1 outcomes ``event`` (aligned arrays);
    the identity when fewer than ``min_events`` events or non-events were observed."""
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, not {method!r}")
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    e = np.asarray(event, dtype=np.float64)
    n_events = int(e.sum())
    if min(n_events, e.size - n_events) < min_events:
        return ProbabilityCalibrator("identity", int(e.size), n_events)
    if method == "isotonic":
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, e)
    else:  # a near-unpenalised logistic fit: C large
        model = LogisticRegression(C=1e4, max_iter=1000).fit(_calibration_design(p, method), e.astype(int))
    return ProbabilityCalibrator(method, int(e.size), n_events, model)


def window_outcome(district: np.ndarray, week: np.ndarray, weekly: np.ndarray, horizon: int) -> np.ndarray:
    """1{any of the weeks t .. t + horizon - 1 has ``weekly`` >= 1} for each row (district, week t), from the
    weekly 0/1 outcomes of the same rows; NaN where one of those weeks is not among the rows (the window has
    not closed). ``week``: datetime64 Mondays."""
    frame = pd.DataFrame({"d": pd.Categorical(district), "w": week, "y": np.asarray(weekly, np.float64)})
    grid = frame.pivot_table(index="d", columns="w", values="y", aggfunc="max", observed=False, dropna=False)
    weeks = pd.DatetimeIndex(grid.columns)
    full = pd.date_range(weeks.min(), weeks.max(), freq="7D") if len(weeks) else weeks
    values = grid.reindex(columns=full).to_numpy(np.float64)  # (districts, weeks), NaN where no row
    n = values.shape[1]
    out = np.full_like(values, np.nan)
    if n >= horizon:
        stacked = np.stack([values[:, k: n - horizon + 1 + k] for k in range(horizon)])  # (h, d, n - h + 1)
        any_event = np.where(np.isnan(stacked).any(axis=0), np.nan, (stacked >= 1).any(axis=0).astype(np.float64))
        out[:, : n - horizon + 1] = any_event
    row_d = frame["d"].cat.codes.to_numpy()
    row_w = full.get_indexer(pd.DatetimeIndex(week))
    return out[row_d, row_w]


class RecalibratedHazard(HazardModel):
    """``base`` (an unfitted hazard model) with its probabilities recalibrated out of sample.

    ``fit(X, y)``: y is the target the base is fitted on: the event within ``horizon`` weeks, or the weekly
    event when ``fit_horizon`` is 1 (a discrete-time hazard; the calibration outcome within ``horizon`` weeks
    is then read from the weekly rows by :func:`window_outcome`). The last ``calibration_weeks`` weeks of the
    training rows are cut into ``n_blocks`` consecutive blocks; for each block a copy of ``base`` is fitted
    on the rows whose target window closed before the block's first week and predicts the block's rows;
    the calibrator (``method``) is fitted on those out-of-fold predictions whose outcome is known; finally
    ``base`` is fitted on every row. ``contributions`` are the base model's (before calibration, which is
    monotone for isotonic, Platt and beta with positive slopes, so the order of the drivers holds).
    """

    def __init__(self, base: HazardModel, method: str = "platt", *, fit_horizon: int | None = None,
                 calibration_weeks: int = 104, n_blocks: int = 4, min_events: int = 20, name: str | None = None):
        if method not in METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, not {method!r}")
        self.base = base
        self.method = method
        self.horizon = int(base.horizon)
        self.fit_horizon = int(fit_horizon or base.horizon)
        self.calibration_weeks = int(calibration_weeks)
        self.n_blocks = int(n_blocks)
        self.min_events = int(min_events)
        self.name = name or f"{base.name}_{method}"
        self.history_weeks = base.history_weeks
        self.calibrator_: ProbabilityCalibrator | None = None

    def input_columns(self) -> list[str]:
        return self.base.input_columns()

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "RecalibratedHazard":
        y = np.asarray(y, dtype=np.float64)
        week = X["week_start"].to_numpy("datetime64[ns]")
        p, outcome = self._out_of_fold(X, y, week)
        known = ~np.isnan(outcome) & ~np.isnan(p)
        self.calibrator_ = fit_calibrator(p[known], outcome[known], self.method, self.min_events)
        self.base.fit(X, y)
        return self

    def _out_of_fold(self, X: pd.DataFrame, y: np.ndarray, week: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold probabilities (NaN outside the calibration weeks) and the outcome within ``horizon``."""
        weeks = np.unique(week)
        calib = weeks[-self.calibration_weeks:] if len(weeks) > self.calibration_weeks else weeks[len(weeks) // 2:]
        starts = [block[0] for block in np.array_split(calib, self.n_blocks) if len(block)]
        ends = [*starts[1:], weeks[-1] + np.timedelta64(7, "D")]
        lag = np.timedelta64(7 * self.fit_horizon, "D")
        p = np.full(len(X), np.nan)
        for start, end in zip(starts, ends):
            train = week + lag <= start
            block = (week >= start) & (week < end)
            if train.sum() == 0 or y[train].sum() == 0:
                continue
            model = copy.deepcopy(self.base).fit(X[train], y[train])
            p[block] = np.asarray(model.predict_proba(X[block]), dtype=np.float64)
        if self.fit_horizon == self.horizon:
            return p, y
        return p, window_outcome(X["district_code"].to_numpy(), week, y, self.horizon)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator_.apply(self.base.predict_proba(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        return self.base.contributions(X)


# ---------------------------------------------------------------------------------------------- intervals


def pit_levels(pit: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """The quantile levels at which a forecaster's quantiles must be read so that they are calibrated: the
    empirical quantiles of its out-of-fold randomised PIT values at ``levels``. A calibrated forecaster's PIT
    is uniform and the levels come back unchanged; one whose intervals are too wide has its PIT piled in the
    middle, and the central levels move inward."""
    pit = np.asarray(pit, dtype=np.float64)
    pit = pit[np.isfinite(pit)]
    if pit.size == 0:
        raise ValueError("pit_levels needs at least one finite PIT value")
    return np.quantile(pit, np.asarray(levels, dtype=np.float64))
