import numpy as np
import pytest

from features.windows import (
    decayed_sum,
    future_sum,
    lag,
    log_ratio_trend,
    past_sum,
    past_sums,
    weeks_since,
)

X = np.array([[1, 0, 2, 0, 0, 3], [0, 0, 0, 0, 0, 0]], dtype=np.float32)


def test_past_sum_uses_only_earlier_weeks():
    np.testing.assert_array_equal(past_sum(X, 2)[0], [0, 1, 1, 2, 2, 0])
    np.testing.assert_array_equal(past_sum(X, 1)[0], lag(X, 1)[0])


def test_lag():
    np.testing.assert_array_equal(lag(X, 2)[0], [0, 0, 1, 0, 2, 0])


def test_decayed_sum_half_life_one():
    # out[t] = sum_k>=1 x[t-k] 0.5^(k-1)
    np.testing.assert_allclose(decayed_sum(X, 1.0)[0], [0, 1, 0.5, 2.25, 1.125, 0.5625])


def test_weeks_since_caps_and_counts_from_previous_week():
    np.testing.assert_array_equal(weeks_since(X, 10)[0], [10, 1, 2, 1, 2, 3])
    np.testing.assert_array_equal(weeks_since(X, 10)[1], [10] * 6)


def test_future_sum_is_nan_where_unobserved():
    out = future_sum(X, 4)[0]
    np.testing.assert_array_equal(out[:3], [3, 2, 5])
    assert np.isnan(out[3:]).all()


def test_past_sums_share_one_cumsum_and_match_past_sum():
    sums = past_sums(X, (1, 3, 10))
    for w, value in sums.items():
        np.testing.assert_array_equal(value, past_sum(X, w))
        assert value.dtype == np.float32
    np.testing.assert_array_equal(sums[3][0], [0, 1, 1, 3, 2, 2])
    np.testing.assert_array_equal(sums[10][0], [0, 1, 1, 3, 3, 3])  # window longer than the panel: partial sums


def test_windows_reject_non_positive_sizes():
    with pytest.raises(ValueError):
        past_sum(X, 0)
    with pytest.raises(ValueError):
        past_sums(X, (4, 0))
    with pytest.raises(ValueError):
        decayed_sum(X, 0)


def test_decayed_sum_half_life_four_weights_the_week_before_one():
    x = np.zeros((1, 10), dtype=np.float32)
    x[0, 2] = 8
    out = decayed_sum(x, 4.0)[0]
    assert out[2] == 0  # the event's own week is not seen
    np.testing.assert_allclose(out[3:], 8 * 0.5 ** (np.arange(7) / 4.0), rtol=1e-6)


def test_log_ratio_trend_rises_when_recent_weeks_are_busier():
    x = np.array([[0, 0, 0, 0, 0, 0, 4, 4]], dtype=np.float32)
    s2, s8 = past_sum(x, 2), past_sum(x, 8)
    trend = log_ratio_trend(s2, 2, s8, 8, offset=0.1)[0]
    np.testing.assert_array_equal(trend[:7], [0, 0, 0, 0, 0, 0, 0])  # both windows empty up to week 6
    # week 7: last 2 weeks hold 4 events (2/week), last 8 weeks hold 4 (0.5/week)
    assert trend[7] == pytest.approx(np.log((4 / 2 + 0.1) / (4 / 8 + 0.1)), rel=1e-6)
    assert trend[7] > 0


def test_windows_work_on_a_single_national_series():
    national = X.sum(axis=0, keepdims=True)
    np.testing.assert_array_equal(past_sum(national, 2), past_sum(X, 2).sum(axis=0, keepdims=True))
    np.testing.assert_array_equal(weeks_since(national, 5)[0], [5, 1, 2, 1, 2, 3])
