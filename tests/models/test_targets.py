import numpy as np
import pandas as pd

from models.targets import targets_table, targets_text


def _skill(rows):
    return pd.DataFrame(rows, columns=["horizon", "model", "baseline", "metric", "score", "baseline_score", "skill",
                                       "skill_lower", "skill_upper"])


SKILL = _skill([
    (1, "tsb", "tsb", "crps", 0.20, 0.20, 0.0, 0.0, 0.0),
    (1, "hawkes_nb", "tsb", "crps", 0.18, 0.20, 0.10, 0.04, 0.15),   # best candidate at h1: bar and aim met
    (1, "lgbm_boost", "tsb", "crps", 0.19, 0.20, 0.05, -0.01, 0.1),
    (4, "imapa", "imapa", "crps", 0.50, 0.50, 0.0, 0.0, 0.0),
    (4, "hawkes_nb", "imapa", "crps", 0.49, 0.50, 0.02, -0.01, 0.05),  # h4: neither bar nor aim
])
HAZARD = _skill([
    (4, "district_history", "district_history", "brier", 0.08, 0.08, 0.0, 0.0, 0.0),
    (4, "hawkes_hazard", "district_history", "brier", 0.07, 0.08, 0.125, 0.05, 0.2),
    (4, "hazard_cloglog", "district_history", "brier", 0.075, 0.08, 0.0625, 0.0, 0.1),
])
METRICS = pd.DataFrame([
    ("hawkes_nb", "count", 1, "pit_coverage80_active", 0.80), ("hawkes_nb", "count", 1, "pit_coverage90_active", 0.95),
    ("hawkes_nb", "count", 4, "pit_coverage80_active", 0.77),
    ("hawkes_hazard", "hazard", 4, "average_precision", 0.30), ("district_history", "hazard", 4, "average_precision", 0.31),
    ("tsb", "count", 1, "pit_coverage80_active", 0.80),
], columns=["model", "kind", "horizon", "metric", "value"])


def test_each_target_reads_the_best_candidate_and_says_whether_it_is_met():
    t = targets_table(SKILL, HAZARD, METRICS, ["tsb", "imapa"], ["district_history", "base_rate"])
    got = {(r.target, r.horizon): (r.model, r.met) for r in t.itertuples()}
    assert got == {("bar", 1): ("hawkes_nb", True), ("aim", 1): ("hawkes_nb", True),
                   ("coverage80", 1): ("hawkes_nb", True), ("coverage90", 1): ("hawkes_nb", False),
                   ("bar", 4): ("hawkes_nb", False), ("aim", 4): ("hawkes_nb", False),
                   ("coverage80", 4): ("hawkes_nb", False),
                   ("brier", 4): ("hawkes_hazard", True), ("ap", 4): ("hawkes_hazard", False)}
    aim4 = t[(t["target"] == "aim") & (t["horizon"] == 4)].iloc[0]
    assert aim4["threshold"] == 0.10 and aim4["against"] == "imapa" and np.isclose(aim4["value"], 0.02)
    text = targets_text(t)
    assert text.startswith("4 of 9 targets met.") and "NOT MET: hawkes_nb CRPS skill +2.0% against imapa at h=4" in text


def test_a_backtest_of_baselines_only_has_no_target():
    only = SKILL[SKILL["model"] == "tsb"]
    t = targets_table(only, HAZARD[HAZARD["model"] == "district_history"], METRICS, ["tsb"], ["district_history"])
    assert t.empty and targets_text(t).startswith("No target")
