"""statsforecast's intermittent-demand peers (TSB, CrostonSBA, ADIDA, IMAPA) against the forecasts statsforecast
2.1.1 itself made (fixtures/peers_statsforecast.json, written by bench/peers/make_fixture.py), and as models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import baselines
from models.baselines import (
    ADIDA,
    IMAPA,
    TSB,
    CrostonSBA,
    adida_mean,
    croston_sba_mean,
    history_columns,
    imapa_mean,
    tsb_mean,
)
from models.distributions import NegativeBinomial
from models.protocol import CountModel

FIXTURE = json.loads((Path(__file__).resolve().parent / "fixtures" / "peers_statsforecast.json").read_text())
SERIES = {s["name"]: s for s in FIXTURE["series"]}
FUNCTIONS = {"tsb": tsb_mean, "croston_sba": croston_sba_mean, "adida": adida_mean, "imapa": imapa_mean}
MODELS = {"tsb": TSB, "croston_sba": CrostonSBA, "adida": ADIDA, "imapa": IMAPA}
#: The re-implementation follows statsforecast's arithmetic (ADIDA and IMAPA operation for operation in the
#: alpha search); the differences seen are rounding, below 1e-14.
ATOL = 1e-9


def test_fixture_was_made_by_statsforecast_2_1_1():
    assert FIXTURE["versions"]["statsforecast"] == "2.1.1"
    assert FIXTURE["models"]["tsb"] == "TSB(alpha_d=0.1, alpha_p=0.1)"
    assert len(SERIES) >= 8


@pytest.mark.parametrize("method", sorted(FUNCTIONS))
@pytest.mark.parametrize("name", sorted(SERIES))
def test_each_method_matches_statsforecast_on_each_series(method, name):
    y = np.array([SERIES[name]["y"]], dtype=np.float64)
    got = FUNCTIONS[method](y)
    assert got.shape == (1,)
    np.testing.assert_allclose(got, [SERIES[name]["mean"][method]], rtol=0, atol=ATOL)


@pytest.mark.parametrize("method", sorted(FUNCTIONS))
def test_stacked_series_match_statsforecast_row_by_row(method):
    names = [n for n, s in SERIES.items() if len(s["y"]) == 156]
    assert len(names) >= 4
    y = np.array([SERIES[n]["y"] for n in names], dtype=np.float64)
    expected = [SERIES[n]["mean"][method] for n in names]
    np.testing.assert_allclose(FUNCTIONS[method](y), expected, rtol=0, atol=ATOL)
    np.testing.assert_allclose(FUNCTIONS[method](y[::-1]), expected[::-1], rtol=0, atol=ATOL)


@pytest.mark.parametrize("method", ["adida", "imapa"])
def test_small_batches_of_the_alpha_search_change_nothing(method, monkeypatch):
    y = np.array([s["y"][-20:] for s in SERIES.values()], dtype=np.float64)
    whole = FUNCTIONS[method](y)
    monkeypatch.setattr(baselines, "_GOLDEN_BATCH_CELLS", 7)
    np.testing.assert_array_equal(FUNCTIONS[method](y), whole)


@pytest.mark.parametrize("method", sorted(FUNCTIONS))
def test_functions_do_not_mutate_and_give_finite_non_negative_means(method):
    y = np.array([[0.0] * 12, [0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0, 0], [2.0] * 12])
    before = y.copy()
    out = FUNCTIONS[method](y)
    np.testing.assert_array_equal(y, before)
    assert out[0] == 0.0 and np.isfinite(out).all() and (out >= 0).all()
    with pytest.raises(ValueError, match="2-D"):
        FUNCTIONS[method](y[0])


def lag_frame(series: list[list[float]], weeks: int) -> pd.DataFrame:
    """Lag columns (lag1 = the last week of each oldest-first series) of the last ``weeks`` weeks."""
    y = np.array(series, dtype=np.float32)[:, -weeks:]
    frame = pd.DataFrame(y[:, ::-1], columns=history_columns(weeks))
    return frame.assign(district_code=[f"D{i}" for i in range(len(y))])


@pytest.mark.parametrize("method", sorted(MODELS))
@pytest.mark.parametrize("horizon", [1, 4])
def test_models_predict_horizon_times_the_one_step_mean_of_the_flipped_lags(method, horizon):
    names = [n for n, s in SERIES.items() if len(s["y"]) == 156]
    X = lag_frame([SERIES[n]["y"] for n in names], 156)
    before = X.copy()
    model = MODELS[method](horizon).fit(X, np.zeros(len(X)))
    dist = model.predict(X)
    pd.testing.assert_frame_equal(X, before)
    assert isinstance(dist, NegativeBinomial) and model.alpha_ == 0.0
    flipped = X[history_columns(156)].to_numpy(np.float64)[:, ::-1]
    np.testing.assert_allclose(dist.mean, np.clip(FUNCTIONS[method](flipped) * horizon, 1e-9, None), rtol=1e-12)
    expected = np.array([SERIES[n]["mean"][method] for n in names]) * horizon
    np.testing.assert_allclose(dist.mean, np.clip(expected, 1e-9, None), rtol=0, atol=ATOL)


@pytest.mark.parametrize("method", sorted(MODELS))
def test_models_read_their_history_weeks_of_lags(method):
    cls = MODELS[method]
    model = cls(4)
    assert isinstance(model, CountModel) and model.kind == "count"
    assert model.name == method and cls(1, dispersion="nb").name == f"{method}_nb"
    assert model.history_weeks == 156 == cls.history_for(4) and cls.history_for(1, 20) == 20
    assert model.input_columns() == history_columns(156) and model.contributions(pd.DataFrame()) is None
    short = cls(2, history_weeks=20)
    assert short.history_weeks == 20 and short.input_columns()[-1] == "violent_events_lag20"
    X = lag_frame([SERIES["short_sparse_20"]["y"], [0.0] * 20], 20)
    mean = short.predict(X).mean
    np.testing.assert_allclose(mean[0], 2 * SERIES["short_sparse_20"]["mean"][method], rtol=0, atol=ATOL)
    assert np.isfinite(mean[1]) and 0 <= mean[1] <= 1e-9  # all-zero history: the distributions' floor
    with pytest.raises(KeyError, match="attach_history"):
        cls(1).predict(X)
    with pytest.raises(ValueError):
        cls(1, history_weeks=0)


def test_tsb_smoothing_constants_are_arguments():
    y = np.array([SERIES["burst_60"]["y"]], dtype=np.float64)
    assert TSB(1).alpha_d == 0.1 == TSB(1).alpha_p
    X = lag_frame(y.tolist(), 60)
    np.testing.assert_allclose(TSB(1, 60, alpha_d=0.3, alpha_p=0.2).predict(X).mean, tsb_mean(y, 0.3, 0.2))
    assert not np.isclose(tsb_mean(y, 0.3, 0.2)[0], tsb_mean(y)[0])


def test_the_nb_variant_fits_a_dispersion():
    rng = np.random.default_rng(3)
    series = (rng.random((400, 30)) < 0.3) * rng.poisson(3.0, (400, 30))
    X = lag_frame(series.tolist(), 30)
    y = rng.negative_binomial(1.0, 0.3, 400)
    model = CrostonSBA(1, history_weeks=30, dispersion="nb").fit(X, y)
    assert model.alpha_ > 0.1
