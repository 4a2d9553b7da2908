"""What-if forecasts: the change of a force term moves the forecast by the fitted effect, with an interval from
the effect's uncertainty; a change no model reads is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_panels import SE_ALPHA, SE_RATES, nb_draw, se_panel, se_rate

from features.spec import FeatureSpec
from models.self_exciting import SelfExcitingNB
from models.whatif import ScenarioInvisible, scenario_forecasts, visibility

BASE = FeatureSpec("ff_test_bases", "foreign_presence", "a test base in the district", "indicator",
                   measure="test_force_deployments", scope="own", statistic="any")
EFFECT = 0.5


@pytest.fixture(scope="module")
def fitted():
    """h = 4 counts whose mean is exp(0.5) times higher where a base stands (half the districts, from week 60)."""
    rng = np.random.default_rng(11)
    X = se_panel(rng)
    district = pd.factorize(X["district_code"])[0]
    week = X.groupby("district_code").cumcount().to_numpy()
    X[BASE.name] = ((district % 2 == 0) & (week >= 60)).astype(float)
    y = nb_draw(rng, 4 * se_rate(X) * np.exp(EFFECT * X[BASE.name].to_numpy()), SE_ALPHA)
    model = SelfExcitingNB(4, rates=SE_RATES, modifiers=[BASE], l2=1e-4, dispersion="ml").fit(X, y)
    return model, X


class Hazard:
    """A stand-in hazard model reading the base column: P = 0.1, 0.2 with a base."""

    def input_columns(self):
        return [BASE.name]

    def predict_proba(self, X):
        return 0.1 + 0.1 * X[BASE.name].to_numpy()


def test_the_change_of_a_force_term_is_its_fitted_effect_with_an_honest_interval(fitted):
    model, X = fitted
    rows = X[X.groupby("district_code").cumcount() == 119].reset_index(drop=True)
    without, with_base = rows.assign(**{BASE.name: 0.0}), rows.assign(**{BASE.name: 1.0})
    delta, se = model.log_mean_change(without, with_base)
    assert np.allclose(delta, delta[0]) and (se > 0).all() and np.allclose(se, se[0])
    assert abs(delta[0] - EFFECT) < 3 * se[0] and se[0] < 0.2  # the effect, within its interval
    same, none = model.log_mean_change(rows, rows)
    assert np.allclose(same, 0) and np.allclose(none, 0)


def test_scenario_forecasts_give_both_forecasts_the_change_and_its_interval(fitted):
    model, X = fitted
    rows = X[X.groupby("district_code").cumcount() == 119].reset_index(drop=True)
    moved = rows.assign(**{BASE.name: 1.0 - rows[BASE.name]})  # every base closes, every empty district gets one
    out = scenario_forecasts(rows, moved, {4: model}, Hazard())
    assert len(out) == len(rows) and (out["horizon_weeks"] == 4).all()
    np.testing.assert_allclose(out["expected_events_change"],
                               out["expected_events_scenario"] - out["expected_events_baseline"])
    assert (out["change_lo90"] <= out["expected_events_change"]).all()
    assert (out["expected_events_change"] <= out["change_hi90"]).all()
    opened = rows[BASE.name].to_numpy() == 0
    assert (out.loc[opened, "expected_events_change"] > 0).all() and (out.loc[~opened, "expected_events_change"] < 0).all()
    np.testing.assert_allclose(out["p_major_attack_4w_change"], np.where(opened, 0.1, -0.1))
    assert (out["events_lo80_scenario"] <= out["events_hi80_scenario"]).all()


def test_a_scenario_that_no_model_reads_is_refused(fitted):
    model, X = fitted
    rows = X.head(5).assign(ff_other_bases=0.0)
    changed = rows.assign(ff_other_bases=1.0)
    force = [BASE.name, "ff_other_bases"]
    assert visibility(rows, rows.assign(**{BASE.name: 1 - rows[BASE.name]}), {"count": model}, force)["count"] == [
        BASE.name]
    with pytest.raises(ScenarioInvisible, match="ff_other_bases"):
        visibility(rows, changed, {"count": model, "hazard": Hazard()}, force)
