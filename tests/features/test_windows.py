import numpy as np

from features.windows import decayed_sum, future_sum, lag, past_sum, weeks_since

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
