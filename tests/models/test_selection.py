"""The pure decisions of a weekly run: when to retrain, which champions may score, who is promoted."""

from __future__ import annotations

import pandas as pd
import pytest

from models.selection import (
    ChampionInfo,
    ChampionRefused,
    backtest_window,
    champion_problem,
    check_champions,
    check_retrain_mode,
    decide_slot,
    decide_slots,
    retrain_reason,
    selection_config,
    slot_scores,
)
from models.slots import HAZARD_HORIZON, HORIZONS, SLOTS, Slot

WEEK = pd.Timestamp("2020-06-01")
COUNT1 = Slot("count", 1)


def info(cutoff: str | None = "2020-05-25", recipe: str = "hawkes_nb", features=("a", "b")) -> ChampionInfo:
    return ChampionInfo("3", recipe, pd.Timestamp(cutoff) if cutoff else None, tuple(features))


def fresh(**kw) -> dict:
    return {slot: info(**kw) for slot in SLOTS}


def test_slots_are_the_published_horizons():
    assert [s.horizon for s in SLOTS if s.kind == "count"] == list(HORIZONS) == [1, 4, 13]
    assert [s for s in SLOTS if s.kind == "hazard"] == [Slot("hazard", HAZARD_HORIZON)] and HAZARD_HORIZON == 4
    assert Slot("count", 4).metric == "crps" and Slot("hazard", 4).metric == "brier"
    with pytest.raises(ValueError, match="kind"):
        Slot("rate", 1)


def test_champion_info_from_registry_tags():
    got = ChampionInfo.from_tags("7", {"spec": "lgbm_boost", "data_cutoff": "2020-05-25", "features": "a,b"})
    assert got == ChampionInfo("7", "lgbm_boost", pd.Timestamp("2020-05-25"), ("a", "b"))
    assert ChampionInfo.from_tags("1", {}).data_cutoff is None and ChampionInfo.from_tags("1", {}).features == ()


def test_a_fresh_champion_is_usable():
    assert champion_problem(info(), COUNT1, WEEK, ["a", "b", "c"], max_age_weeks=13) is None


@pytest.mark.parametrize("champion, features, words", [
    (None, ["a", "b"], "no champion"),
    (info(cutoff=None), ["a", "b"], "no data cutoff"),
    (info(cutoff="2020-06-08"), ["a", "b"], "after the forecast week 2020-06-01"),
    (info(cutoff="2020-03-02"), ["a", "b"], "max_champion_age_weeks = 13"),
    (info(), ["a"], "needs features the table no longer has: b"),
])
def test_champion_problems_name_the_cause(champion, features, words):
    assert words in champion_problem(champion, COUNT1, WEEK, features, max_age_weeks=13)


def test_a_champion_trained_on_the_weeks_future_never_scores_it():
    """Point in time: champions trained with data to 2020-06-01 may not score 2019-06-03."""
    future = fresh(cutoff="2020-06-01")
    reason = retrain_reason(future, pd.Timestamp("2019-06-03"), ["a", "b"], mode="auto", retrain_every_weeks=4,
                            max_age_weeks=13)
    assert reason and "2020-06-01" in reason and "after the forecast week 2019-06-03" in reason
    with pytest.raises(ChampionRefused, match="trained on data up to 2020-06-01"):
        check_champions(future, pd.Timestamp("2019-06-03"), ["a", "b"], max_age_weeks=13)


def test_retrain_reason_by_mode_and_age():
    kw = dict(retrain_every_weeks=4, max_age_weeks=13)
    assert retrain_reason(fresh(), WEEK, ["a", "b"], mode="auto", **kw) is None
    assert "due every 4 weeks" in retrain_reason(fresh(cutoff="2020-05-04"), WEEK, ["a", "b"], mode="auto", **kw)
    assert retrain_reason(fresh(), WEEK, ["a", "b"], mode="always", **kw) == "retraining was asked for"
    assert retrain_reason({s: None for s in SLOTS}, WEEK, [], mode="never", **kw) is None
    with pytest.raises(ValueError, match="auto, always, never"):
        retrain_reason(fresh(), WEEK, ["a", "b"], mode="sometimes", **kw)
    assert check_retrain_mode("never") == "never"


def test_never_retrain_refuses_an_expired_champion_and_names_every_slot():
    old = fresh(cutoff="2020-01-06")
    with pytest.raises(ChampionRefused) as caught:
        check_champions(old, WEEK, ["a", "b"], max_age_weeks=13)
    assert str(caught.value).count("older than training.max_champion_age_weeks") == len(SLOTS)
    assert "--retrain" in str(caught.value)
    check_champions(fresh(), WEEK, ["a", "b"], max_age_weeks=13)  # no error


SCORES = {"mean_52": 0.170, "mean_13": 0.172, "conflictology": 0.175, "hawkes_nb": 0.160, "lgbm_boost": 0.165}
BASE = ("mean_52", "mean_13", "conflictology")


def test_the_best_candidate_beating_baseline_and_champion_is_promoted():
    d = decide_slot(SCORES, COUNT1, candidates=("hawkes_nb", "lgbm_boost"), baselines=BASE,
                    champion=info(recipe="lgbm_boost"), champion_usable=True)
    assert d.challenger == "hawkes_nb" and d.promote
    assert d.numbers["h1_best_baseline_crps"] == 0.170 and d.numbers["h1_champion_crps"] == 0.165


def test_not_promoted_when_the_champion_recipe_wins_by_less_than_the_margin():
    d = decide_slot(SCORES, COUNT1, candidates=("hawkes_nb", "lgbm_boost"), baselines=BASE,
                    champion=info(recipe="lgbm_boost"), champion_usable=True, min_gain_vs_champion=0.05)
    assert not d.promote and any("gain vs champion" in r for r in d.reasons)


def test_retraining_the_champions_recipe_is_compared_with_the_baselines_only():
    d = decide_slot(SCORES, COUNT1, candidates=("hawkes_nb",), baselines=BASE, champion=info(recipe="hawkes_nb"),
                    champion_usable=True)
    assert d.promote and any("retrains the champion's recipe 'hawkes_nb'" in r for r in d.reasons)


def test_first_run_the_best_model_possibly_a_baseline_becomes_champion():
    losing = SCORES | {"hawkes_nb": 0.180, "lgbm_boost": 0.190}
    d = decide_slot(losing, COUNT1, candidates=("hawkes_nb", "lgbm_boost"), baselines=BASE, champion=None,
                    champion_usable=False)
    assert d.challenger == "mean_52" and d.promote
    assert any("no usable champion" in r and "'mean_52'" in r for r in d.reasons)


def test_a_losing_challenger_never_replaces_a_usable_champion():
    losing = SCORES | {"hawkes_nb": 0.180, "lgbm_boost": 0.190}
    d = decide_slot(losing, COUNT1, candidates=("hawkes_nb", "lgbm_boost"), baselines=BASE,
                    champion=info(recipe="hawkes_nb"), champion_usable=True)
    assert d.challenger == "hawkes_nb" and not d.promote


def test_an_expired_champion_is_replaced_by_the_best_model():
    losing = SCORES | {"hawkes_nb": 0.180}
    d = decide_slot(losing, COUNT1, candidates=("hawkes_nb",), baselines=BASE, champion=info(recipe="hawkes_nb"),
                    champion_usable=False)
    assert d.promote and d.challenger == "mean_52"


def origin_table(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=pd.date_range("2020-01-06", periods=len(next(iter(columns.values()))), freq="7D"))


def test_a_challenger_that_is_not_clearly_better_leaves_the_champions_recipe_in_place():
    # lgbm_boost is better on average (0.155 vs 0.165) but only thanks to one origin: its bootstrap lower bound
    # is not above zero, so the champion's recipe is retrained instead of switching.
    noisy = origin_table(lgbm_boost=[0.05, 0.19, 0.19, 0.19], hawkes_nb=[0.16, 0.17, 0.17, 0.16],
                         mean_52=[0.2] * 4, mean_13=[0.2] * 4, conflictology=[0.2] * 4)
    scores = noisy.mean().to_dict()
    d = decide_slot(scores, COUNT1, candidates=("hawkes_nb", "lgbm_boost"), baselines=BASE,
                    champion=info(recipe="hawkes_nb"), champion_usable=True, origin_scores=noisy)
    assert scores["lgbm_boost"] < scores["hawkes_nb"]
    assert d.challenger == "hawkes_nb" and d.promote
    assert d.numbers["h1_gain_vs_champion_recipe_lower"] <= 0
    assert any("the champion's recipe is kept" in r for r in d.reasons)


def test_a_challenger_better_at_every_origin_replaces_the_champions_recipe():
    steady = origin_table(lgbm_boost=[0.15, 0.16, 0.15, 0.16], hawkes_nb=[0.17, 0.18, 0.17, 0.18],
                          mean_52=[0.2] * 4, mean_13=[0.2] * 4, conflictology=[0.2] * 4)
    d = decide_slot(steady.mean().to_dict(), COUNT1, candidates=("hawkes_nb", "lgbm_boost"), baselines=BASE,
                    champion=info(recipe="hawkes_nb"), champion_usable=True, origin_scores=steady)
    assert d.challenger == "lgbm_boost" and d.promote
    assert d.numbers["h1_gain_vs_champion_recipe_lower"] > 0


def test_without_a_usable_champion_the_best_candidate_is_the_challenger_whatever_its_margin():
    noisy = origin_table(lgbm_boost=[0.05, 0.19, 0.19, 0.19], hawkes_nb=[0.16, 0.17, 0.17, 0.16],
                         mean_52=[0.2] * 4, mean_13=[0.2] * 4, conflictology=[0.2] * 4)
    d = decide_slot(noisy.mean().to_dict(), COUNT1, candidates=("hawkes_nb", "lgbm_boost"), baselines=BASE,
                    champion=info(recipe="hawkes_nb"), champion_usable=False, origin_scores=noisy)
    assert d.challenger == "lgbm_boost"


def test_no_finite_baseline_is_an_error():
    with pytest.raises(ValueError, match="no baseline"):
        decide_slot({"hawkes_nb": 0.1}, COUNT1, candidates=("hawkes_nb",), baselines=BASE, champion=None,
                    champion_usable=False)


def test_decide_slots_reads_the_backtest_metrics_per_slot():
    rows = []
    for slot in SLOTS:
        if slot.kind == "count":
            rows += [("mean_52", "count", slot.horizon, "crps", 0.2), ("hawkes_nb", "count", slot.horizon, "crps", 0.1),
                     ("hawkes_nb", "count", slot.horizon, "brier", 0.9)]
        else:
            rows += [("base_rate", "hazard", slot.horizon, "brier", 0.10), ("hazard_cloglog", "hazard", slot.horizon, "brier", 0.09),
                     ("hawkes_hazard", "hazard", slot.horizon, "brier", float("nan"))]
    metrics = pd.DataFrame(rows, columns=["model", "kind", "horizon", "metric", "value"])
    assert slot_scores(metrics, Slot("hazard", 4)) == {"base_rate": 0.10, "hazard_cloglog": 0.09}
    decisions = decide_slots(metrics, {s: None for s in SLOTS}, WEEK, [], max_age_weeks=13,
                             candidates={"count": ("hawkes_nb",), "hazard": ("hawkes_hazard", "hazard_cloglog")})
    assert {s: d.challenger for s, d in decisions.items()} == {
        **{Slot("count", h): "hawkes_nb" for h in HORIZONS}, Slot("hazard", 4): "hazard_cloglog"}
    assert all(d.promote for d in decisions.values())


def test_selection_and_backtest_windows():
    config = selection_config(WEEK, 26, 13, pd.Timestamp("2012-01-02"))
    assert config.start == WEEK - pd.Timedelta(weeks=26) and config.end == WEEK - pd.Timedelta(weeks=1)
    assert (config.origin_every, config.refit_every) == (1, 13)
    first, forecast = backtest_window(None, pd.Timestamp("2020-06-29"))
    assert first == pd.Timestamp("2018-07-02") and forecast == pd.Timestamp("2020-07-06")
    assert backtest_window(pd.Timestamp("2019-01-09"), pd.Timestamp("2020-06-29"))[0] == pd.Timestamp("2019-01-07")


def test_a_champion_is_never_used_on_another_sources_features():
    ucdp = {slot: ChampionInfo("2", "hawkes_nb", pd.Timestamp("2020-05-25"), ("a",), ("ucdp",)) for slot in SLOTS}
    assert champion_problem(ucdp[COUNT1], COUNT1, WEEK, ["a"], 13, sources=("ucdp",)) is None
    problem = champion_problem(ucdp[COUNT1], COUNT1, WEEK, ["a"], 13, sources=("acled",))
    assert "trained on ucdp; this run's events are acled" in problem
    assert "unrecorded source" in champion_problem(info(), COUNT1, WEEK, ["a", "b"], 13, sources=("acled",))
    kw = dict(retrain_every_weeks=4, max_age_weeks=13)
    assert "never used on another source" in retrain_reason(ucdp, WEEK, ["a"], mode="auto", sources=("acled",), **kw)
    with pytest.raises(ChampionRefused, match="trained on ucdp"):
        check_champions(ucdp, WEEK, ["a"], max_age_weeks=13, sources=("acled",))
    assert ChampionInfo.from_tags("1", {"sources": "ucdp", "data_cutoff": "2020-05-25"}).sources == ("ucdp",)
