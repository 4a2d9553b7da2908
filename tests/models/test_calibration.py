"""Out-of-sample recalibration: the calibrators, the weekly-to-window outcome, and the wrapper's time order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.baselines import HazardBaseRate
from models.calibration import (
    RecalibratedHazard,
    fit_calibrator,
    pit_levels,
    window_outcome,
)
from models.protocol import HazardModel


@pytest.mark.parametrize("method", ["isotonic", "platt", "beta"])
def test_a_calibrator_fixes_probabilities_that_are_twice_too_high(method):
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.01, 0.3, 20_000)
    event = rng.random(truth.size) < truth
    stated = np.clip(2 * truth, 0, 1)
    cal = fit_calibrator(stated, event, method)
    fixed = cal.apply(stated)
    assert cal.method == method and cal.n_events == int(event.sum())
    assert np.mean((fixed - event) ** 2) < np.mean((stated - event) ** 2)
    assert abs(fixed.mean() - event.mean()) < 0.01
    assert np.all((fixed >= 0) & (fixed <= 1))


def test_too_few_events_leave_the_probabilities_unchanged():
    cal = fit_calibrator(np.full(100, 0.2), np.r_[np.ones(5), np.zeros(95)], "platt", min_events=20)
    assert cal.method == "identity"
    assert np.array_equal(cal.apply([0.1, 0.7]), [0.1, 0.7])
    with pytest.raises(ValueError, match="calibration method"):
        fit_calibrator([0.1], [1], "spline")


def test_the_window_outcome_looks_ahead_within_the_district_and_is_unknown_at_the_end():
    weeks = pd.date_range("2020-01-06", periods=5, freq="7D").to_numpy()
    district = np.array(["A"] * 5 + ["B"] * 5)
    week = np.r_[weeks, weeks]
    weekly = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    out = window_outcome(district, week, weekly, 2)
    # A: weeks (0,1) no, (1,2) yes, (2,3) yes, (3,4) no, 4 unknown; B: only (3,4) has the event
    np.testing.assert_array_equal(out[:4], [0, 1, 1, 0])
    np.testing.assert_array_equal(out[5:9], [0, 0, 0, 1])
    assert np.isnan(out[4]) and np.isnan(out[9])


class _Recording(HazardModel):
    """A hazard model that records the last week of every training set it is given (its p: 2 x the rate)."""

    name, horizon = "recording", 4
    seen: list = []

    def input_columns(self):
        return []

    def fit(self, X, y):
        _Recording.seen.append(pd.Timestamp(X["week_start"].max()))
        self.rate_ = float(np.mean(y))
        return self

    def predict_proba(self, X):
        return np.full(len(X), min(1.0, 2 * self.rate_))


def frame(n_weeks: int = 60, n_districts: int = 20, rate: float = 0.2, seed: int = 1):
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2019-01-07", periods=n_weeks, freq="7D")
    X = pd.DataFrame({"district_code": np.tile([f"D{i}" for i in range(n_districts)], n_weeks),
                      "week_start": np.repeat(weeks, n_districts)})
    return X, (rng.random(len(X)) < rate).astype(float)


def test_the_wrapper_fits_each_block_on_rows_whose_target_closed_before_it_then_on_all_rows():
    X, y = frame()
    _Recording.seen = []
    model = RecalibratedHazard(_Recording(), "platt", calibration_weeks=24, n_blocks=3, min_events=5).fit(X, y)
    weeks = pd.DatetimeIndex(sorted(X["week_start"].unique()))
    starts = [weeks[36], weeks[44], weeks[52]]
    # each block's model saw rows whose 4-week target window closed by the block's first week
    assert _Recording.seen[:3] == [s - pd.Timedelta(weeks=4) for s in starts]
    assert _Recording.seen[3] == weeks[-1]
    assert model.calibrator_.method == "platt"
    # the base says 2 x the rate; the calibration brings the probabilities back near the observed rate
    assert abs(model.predict_proba(X).mean() - y.mean()) < 0.05
    assert model.base.predict_proba(X).mean() > 0.35


def test_a_discrete_time_base_is_calibrated_on_the_window_outcome():
    X, y = frame(rate=0.05)
    base = HazardBaseRate(4)  # fitted on the weekly event, as a discrete-time hazard is: it says P(week) ~ 0.05
    model = RecalibratedHazard(base, "platt", fit_horizon=1, calibration_weeks=24, n_blocks=3, min_events=5).fit(X, y)
    p = model.predict_proba(X)
    expected = 1 - (1 - 0.05) ** 4  # the 4-week outcome's rate, not the weekly one
    assert abs(p.mean() - expected) < 0.05


def test_pit_levels_move_inward_when_intervals_are_too_wide():
    uniform = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(pit_levels(uniform, [0.1, 0.9]), [0.1, 0.9], atol=1e-9)
    piled = 0.5 + (uniform - 0.5) * 0.5  # PIT in [0.25, 0.75]: too wide
    lo, hi = pit_levels(piled, [0.1, 0.9])
    assert lo > 0.1 and hi < 0.9
