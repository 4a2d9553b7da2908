"""The linear pool of forecast means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.baselines import LastWeek, RollingMean
from models.ensemble import MeanPool
from models.protocol import CountModel

X = pd.DataFrame({"violent_events_lag1": [0.0, 4.0], "violent_events_sum_w4": [8.0, 4.0]})


def test_the_pool_is_a_negative_binomial_around_the_weighted_mean_of_its_members():
    pool = MeanPool((LastWeek(1), RollingMean(1, 4)), (0.25, 0.75), dispersion=0.3).fit(X, np.zeros(2))
    assert isinstance(pool, CountModel) and pool.horizon == 1
    dist = pool.predict(X)
    # last week: 0, 4 ; mean of 4 weeks: 2, 1
    np.testing.assert_allclose(dist.mean, [0.25 * 0 + 0.75 * 2, 0.25 * 4 + 0.75 * 1])
    np.testing.assert_allclose(dist.alpha, 0.3)
    assert pool.contributions(X) is None  # no member can split its prediction


def test_pool_members_and_weights_are_checked():
    with pytest.raises(ValueError, match="sum to 1"):
        MeanPool((LastWeek(1), RollingMean(1, 4)), (0.5, 0.6), 0.3)
    with pytest.raises(ValueError, match="one horizon"):
        MeanPool((LastWeek(1), RollingMean(4, 4)), (0.5, 0.5), 0.3)
    with pytest.raises(ValueError, match="at least two"):
        MeanPool((LastWeek(1),), (1.0,), 0.3)


def test_the_probability_pool_weights_its_members_probabilities():
    from models.baselines import DistrictHistoryRule, HazardBaseRate
    from models.ensemble import ProbabilityPool
    from models.protocol import HazardModel

    X = pd.DataFrame({"district_code": ["A", "B"], **{f"major_attacks_lag{k}": [1.0, 0.0] for k in range(1, 9)}})
    pool = ProbabilityPool((HazardBaseRate(4), DistrictHistoryRule(4, weeks=8)), (0.75, 0.25))
    pool.fit(X, np.array([1.0, 0.0]))
    assert isinstance(pool, HazardModel) and pool.history_measure == "major_attacks" and pool.history_weeks == 8
    np.testing.assert_allclose(pool.predict_proba(X), [0.75 * 0.5 + 0.25 * 1.0, 0.75 * 0.5 + 0.0])
