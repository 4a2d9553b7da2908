"""What-if forecasts: the same week scored under two force registries by the same fitted force-aware models.

Pure: the caller builds the forecast week's feature rows twice (the registry as it is, and under a scenario:
:mod:`features.scenario`); only the force features differ between them. For each district and count horizon
:func:`scenario_forecasts` gives both expected counts and their central 80% predictive intervals (each model's
own NB2 distribution), the change of the expected count and a 90% interval for it from the uncertainty of the
estimated force effects (the delta method on the change of the log mean,
:meth:`models.self_exciting.SelfExcitingNB.log_mean_change`), and both probabilities of a major attack within
4 weeks from the hazard model, with their difference (a point value: the hazard model gives no coefficient
covariance). Units: events over the horizon from ``week_start``; probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

#: Level of the interval of the change in expected events.
CHANGE_LEVEL = 0.90
#: Level of the predictive intervals of each forecast.
PREDICTIVE_LEVEL = 0.80


class ScenarioInvisible(ValueError):
    """No fitted model reads a feature that the scenario changes: its forecasts would equal the baseline's."""


def changed_inputs(baseline: pd.DataFrame, scenario: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Boolean frame (rows of ``baseline`` x ``columns``): where the scenario changes a value."""
    a = baseline[columns].to_numpy(np.float64)
    b = scenario.loc[baseline.index, columns].to_numpy(np.float64)
    return pd.DataFrame(~np.isclose(a, b, equal_nan=True), index=baseline.index, columns=columns)


def changed_columns(baseline: pd.DataFrame, scenario: pd.DataFrame, columns: list[str]) -> list[str]:
    """The ``columns`` whose value the scenario changes in some row."""
    moved = changed_inputs(baseline, scenario, columns).any(axis=0)
    return [c for c in columns if moved[c]]


def visibility(baseline: pd.DataFrame, scenario: pd.DataFrame, models: Mapping[str, object],
               force_columns: list[str]) -> dict[str, list[str]]:
    """For each model (name -> fitted model with ``input_columns()``), the input columns the scenario changes
    somewhere. Raises ScenarioInvisible when no model sees any change, naming which of ``force_columns`` (the
    catalog's force features) changed."""
    seen = {name: changed_columns(baseline, scenario, [c for c in model.input_columns() if c in baseline.columns])
            for name, model in models.items()}
    if not any(seen.values()):
        changed = changed_columns(baseline, scenario, force_columns) or ["none"]
        raise ScenarioInvisible(
            "no fitted model reads a feature this scenario changes, so its forecasts would equal the baseline's "
            f"(features the scenario changes: {', '.join(changed)}; models: {', '.join(models)}): fit a force-aware "
            "model (models/suite.py hawkes_nb_forces, hazard_cloglog_forces) or describe a change of forces the "
            "registry has a history of")
    return seen


def unseen_changes(baseline: pd.DataFrame, scenario: pd.DataFrame, seen: dict[str, list[str]],
                   force_columns: list[str]) -> list[str]:
    """The ``force_columns`` the scenario changes that no model reads (a kind with no model term, or no history
    to estimate one): their effect is not in the scenario's forecasts."""
    read = {c for cols in seen.values() for c in cols}
    return [c for c in changed_columns(baseline, scenario, force_columns) if c not in read]


def scenario_forecasts(baseline: pd.DataFrame, scenario: pd.DataFrame, counts: Mapping[int, object],
                       hazard, hazard_horizon: int = 4) -> pd.DataFrame:
    """One row per district (the rows of ``baseline``, with district_code) and count horizon.

    ``counts``: horizon -> fitted force-aware count model (``predict``, ``log_mean_change``); ``hazard``: the
    fitted force-aware hazard model (``predict_proba``) of ``hazard_horizon`` weeks. ``scenario`` holds the same
    district rows (matched on the index) under the scenario's registry.
    """
    scenario = scenario.loc[baseline.index]
    z = stats.norm.ppf(0.5 + CHANGE_LEVEL / 2)
    p_base, p_scen = np.asarray(hazard.predict_proba(baseline)), np.asarray(hazard.predict_proba(scenario))
    frames = []
    for h, model in sorted(counts.items()):
        dist_b, dist_s = model.predict(baseline), model.predict(scenario)
        mean_b, mean_s = dist_b.mean, dist_s.mean
        delta, se = model.log_mean_change(baseline, scenario)
        lo_b, hi_b = dist_b.interval(PREDICTIVE_LEVEL)
        lo_s, hi_s = dist_s.interval(PREDICTIVE_LEVEL)
        frames.append(pd.DataFrame({
            "district_code": baseline["district_code"].astype("string").to_numpy(),
            "horizon_weeks": h,
            "expected_events_baseline": mean_b, "expected_events_scenario": mean_s,
            "expected_events_change": mean_s - mean_b,
            "change_lo90": mean_b * np.expm1(delta - z * se), "change_hi90": mean_b * np.expm1(delta + z * se),
            "log_mean_change_se": se,
            "events_lo80_baseline": lo_b, "events_hi80_baseline": hi_b,
            "events_lo80_scenario": lo_s, "events_hi80_scenario": hi_s,
            f"p_major_attack_{hazard_horizon}w_baseline": p_base, f"p_major_attack_{hazard_horizon}w_scenario": p_scen,
            f"p_major_attack_{hazard_horizon}w_change": p_scen - p_base,
        }))
    return pd.concat(frames, ignore_index=True)


#: The force-aware recipes of models/suite.py that score scenarios.
COUNT_RECIPE, HAZARD_RECIPE = "hawkes_nb_forces", "hazard_cloglog_forces"


def fit_force_slots(table, panel_start: pd.Timestamp, slots=None) -> dict:
    """The force-aware recipes fitted for every slot (default: the published slots) on the table's rows from
    ``panel_start`` with a known target (:func:`models.training.fit_slot`)."""
    from models.slots import model_slots
    from models.training import fit_slot

    return {slot: fit_slot(table, COUNT_RECIPE if slot.kind == "count" else HAZARD_RECIPE, slot, panel_start)
            for slot in (slots or model_slots())}
