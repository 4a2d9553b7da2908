"""Cox hazard ratios on a synthetic panel with a known hazard ratio (fixed seed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.cox import (
    TABLE_COLUMNS,
    CoxHazardRatios,
    cluster_robust_cov,
    counting_process,
)

DESCRIPTIONS = {"ff_base_closed_w13": "whose foreign base closed in the last 13 weeks"}


@pytest.fixture(scope="module")
def panel():
    """Weekly cloglog hazard: log 0.02 + log 2 * base_closed + 0 * coup + 0.3 * log2(1 + c52).

    ``ff_base_closed_w13`` switches on for random 5-30 week stretches per district (HR 2), ``pol_coup_w13``
    is a national indicator with no effect (HR 1), ``ff_peacekeeping_bases`` is 0 everywhere and
    ``ff_foreign_combat_bases`` counts bases (2) in one district that never sees an attack.
    """
    rng = np.random.default_rng(2024)
    n_d, n_w = 200, 150
    closed = np.zeros((n_d, n_w))
    for d in range(n_d):
        for _ in range(2):
            start = rng.integers(0, n_w)
            closed[d, start:start + rng.integers(5, 30)] = 1.0
    coup = np.zeros(n_w)
    coup[40:53] = coup[100:113] = 1.0
    c52 = np.repeat(rng.poisson(rng.gamma(1.0, 10.0, n_d))[:, None], n_w, axis=1).astype(float)
    eta = np.log(0.02) + np.log(2.0) * closed + 0.3 * np.log2(1.0 + c52)
    events = (rng.uniform(size=(n_d, n_w)) < -np.expm1(-np.exp(eta))).astype(float)
    rare = np.zeros((n_d, n_w))
    quiet = int(np.argmin(events.sum(axis=1)))
    rare[quiet, :20] = 1.0
    assert events[quiet].sum() == 0
    X = pd.DataFrame({
        "district_code": np.repeat([f"MLI-{i:03d}" for i in range(n_d)], n_w),
        "week_start": np.tile(pd.date_range("2018-01-01", periods=n_w, freq="7D"), n_d),
        "ff_base_closed_w13": closed.ravel() > 0,
        "pol_coup_w13": np.tile(coup, n_d),
        "ff_peacekeeping_bases": 0.0,
        "ff_foreign_combat_bases": 2.0 * rare.ravel(),
        "violent_events_sum_w52": c52.ravel(),
    })
    return X, events.ravel()


def test_hazard_ratio_of_a_base_closure_is_recovered(panel):
    X, event = panel
    cox = CoxHazardRatios(descriptions=DESCRIPTIONS).fit(X, event)
    table = cox.hazard_ratio_table().set_index("term")
    assert list(cox.hazard_ratio_table().columns) == TABLE_COLUMNS
    closed = table.loc["ff_base_closed_w13"]
    assert closed["ci_low"] < 2.0 < closed["ci_high"]
    assert 1.6 < closed["hazard_ratio"] < 2.5 and closed["p_value"] < 1e-6
    assert closed["scale"] == "indicator (1 vs 0)"
    assert closed["sentence"].startswith("a district whose foreign base closed in the last 13 weeks has ")
    assert f"(95% CI {closed['ci_low']:.1f}\u2013{closed['ci_high']:.1f})" in closed["sentence"]
    coup = table.loc["pol_coup_w13"]
    assert coup["ci_low"] < 1.0 < coup["ci_high"] and coup["p_value"] > 0.05
    assert coup["sentence"].startswith("a district in the 13 weeks after a coup has ")  # default description
    control = table.loc["violent_events_sum_w52"]
    assert control["scale"] == "per doubling of (1 + x)"
    assert control["ci_low"] < np.exp(0.3) < control["ci_high"]  # coefficient 0.3 per unit of log2(1 + x)
    assert "each doubling of (1 + violent events in the 52 weeks before)" in control["sentence"]


def test_columns_without_variation_or_events_are_dropped_with_a_note(panel):
    X, event = panel
    cox = CoxHazardRatios(descriptions=DESCRIPTIONS).fit(X, event)
    # the default covariates: presence counts become indicators; absent ones are noted
    assert cox.terms_ == ["ff_base_closed_w13", "pol_coup_w13", "violent_events_sum_w52"]
    assert "ff_private_military_bases: absent from the data, dropped" in cox.notes_
    assert any(n.startswith("ff_peacekeeping_bases: no variation") for n in cox.notes_)
    assert any(n.startswith("ff_foreign_combat_bases: no major attack") for n in cox.notes_)
    table = cox.hazard_ratio_table().set_index("term")
    assert np.isnan(table.loc["ff_peacekeeping_bases", "hazard_ratio"])
    assert "not estimated" in table.loc["ff_foreign_combat_bases", "sentence"]
    assert set(table.index[-2:]) == {"ff_peacekeeping_bases", "ff_foreign_combat_bases"}
    with pytest.raises(ValueError):
        CoxHazardRatios(["ff_peacekeeping_bases"], controls=()).fit(X, event)


def test_binarized_presence_gets_an_indicator_hazard_ratio(panel):
    X, event = panel
    X = X.assign(ff_foreign_combat_bases=3.0 * X["ff_base_closed_w13"])  # a count: 0 or 3 bases
    cox = CoxHazardRatios(["ff_foreign_combat_bases"]).fit(X, event)
    row = cox.hazard_ratio_table().set_index("term").loc["ff_foreign_combat_bases"]
    assert row["scale"] == "indicator (1 vs 0)" and row["ci_low"] < 2.0 < row["ci_high"]
    assert row["sentence"].startswith("a district hosting a foreign combat force base has ")
    per_base = CoxHazardRatios(["ff_foreign_combat_bases"], binarize=()).fit(X, event)
    row = per_base.hazard_ratio_table().set_index("term").loc["ff_foreign_combat_bases"]
    assert row["scale"] == "per unit" and row["ci_low"] < 2 ** (1 / 3) < row["ci_high"]
    assert row["sentence"].startswith("each additional unit of hosting")


def test_explicit_covariates_calendar_scale_and_robust_errors(panel):
    X, event = panel
    naive = CoxHazardRatios(["ff_base_closed_w13"], robust=False).fit(X, event)
    calendar = CoxHazardRatios(["ff_base_closed_w13", "absent_column"], time_scale="calendar").fit(X, event)
    assert "absent_column: absent from the data, dropped" in calendar.notes_
    hr = calendar.hazard_ratio_table().set_index("term").loc["ff_base_closed_w13"]
    assert hr["ci_low"] < 2.0 < hr["ci_high"]
    assert naive.terms_ == ["ff_base_closed_w13", "violent_events_sum_w52"]
    assert np.all(naive.bse_ > 0) and not np.allclose(naive.bse_, calendar.bse_)


def test_counting_process_restarts_the_clock_after_each_attack():
    X = pd.DataFrame({"district_code": ["A"] * 6 + ["B"] * 3,
                      "week_start": list(pd.date_range("2020-01-06", periods=6, freq="7D"))
                      + list(pd.date_range("2020-01-06", periods=3, freq="7D")),
                      "weeks_since_major_attacks": [5, 6, 7, 1, 2, 1, 104, 104, 104]})
    event = np.array([0, 0, 1, 0, 1, 0, 0, 0, 0])
    spells = counting_process(X.iloc[::-1].reset_index(drop=True), event[::-1])[::-1].reset_index(drop=True)
    assert spells["entry"].tolist() == [4, 5, 6, 0, 1, 0, 103, 104, 105]
    assert (spells["exit"] - spells["entry"]).eq(1).all()
    assert spells["status"].tolist() == event.tolist()
    calendar = counting_process(X, event, time_scale="calendar")
    assert calendar["entry"].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2]


def test_risk_sets_match_the_fit_and_robust_errors_are_sane(panel):
    """With one cluster the sandwich's score sum is the total score: zero at the MLE only when the
    residuals use the same risk sets as the fit (each one-week row at risk at its exit week only)."""
    X, event = panel
    cox = CoxHazardRatios(["ff_base_closed_w13"], ties="breslow", robust=False).fit(X, event)
    spells = counting_process(X, event)
    Z = np.column_stack([X["ff_base_closed_w13"], np.log2(1 + X["violent_events_sum_w52"])])
    one = cluster_robust_cov(Z, cox.params_, spells["exit"].to_numpy(), spells["status"].to_numpy(),
                             np.zeros(len(X)), cox.cov_)
    assert np.abs(one).max() < 1e-12
    robust = CoxHazardRatios(["ff_base_closed_w13"], ties="breslow").fit(X, event)
    # events are independent given the covariates here, so the robust errors stay near the model-based ones
    np.testing.assert_allclose(robust.bse_, cox.bse_, rtol=0.3)
