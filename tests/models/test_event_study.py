"""Event study of force withdrawals on tiny hand-made panels with known effects: a doubling after week 0, no
effect, neighbour exposure, overlapping and out-of-panel withdrawals, hazard ratios, no mutation, the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from matplotlib.figure import Figure

from models.event_study import (
    CLUSTERED,
    MODEL_BASED,
    event_study,
    exposure,
    hazard_ratios,
    sentences,
    window_effects,
)
from models.poisson_fe import poisson_fe
from publish.figures import event_study_figure

START = pd.Timestamp("2019-01-07")  # a Monday


def monday(week: int) -> pd.Timestamp:
    return START + pd.Timedelta(weeks=week)


def line_neighbours(n: int) -> pd.DataFrame:
    """D0 - D1 - ... - D{n-1}, both directions listed."""
    codes = [f"D{i}" for i in range(n)]
    return pd.DataFrame({"district_code": codes[:-1] + codes[1:], "neighbour_code": codes[1:] + codes[:-1]})


def withdrawals(*rows: tuple[str, str, int, str]) -> pd.DataFrame:
    """(id, district, week index of relative week 0, kind) -> the withdrawals frame."""
    return pd.DataFrame({"withdrawal_id": [r[0] for r in rows], "district_code": [r[1] for r in rows],
                         "week_start": [monday(r[2]) for r in rows], "kind": [r[3] for r in rows],
                         "label": [f"force {r[0]} leaves {r[1]}" for r in rows]})


def make_panel(n_districts: int = 8, n_weeks: int = 120, effect: float = 2.0, seed: int = 0,
               treated: dict[int, int] | None = None, base: float = 100.0,
               p_major: float = 0.05, p_major_after: float | None = None) -> pd.DataFrame:
    """Poisson counts of rate base * district level * season, multiplied by ``effect`` in each treated district
    ({district: week of relative week 0}) from week 0 on; major attacks Bernoulli(p_major), or
    Bernoulli(p_major_after) in the 26 weeks after a treated district's week 0."""
    treated = {1: 60, 5: 70} if treated is None else treated
    rng = np.random.default_rng(seed)
    d = np.repeat(np.arange(n_districts), n_weeks)
    t = np.tile(np.arange(n_weeks), n_districts)
    mu = base * (1 + 0.5 * d / n_districts) * (1 + 0.3 * np.sin(2 * np.pi * t / 52))
    after = np.zeros(len(d), dtype=bool)
    window = np.zeros(len(d), dtype=bool)
    for district, week in treated.items():
        after |= (d == district) & (t >= week)
        window |= (d == district) & (t >= week) & (t < week + 26)
    mu = mu * np.where(after, effect, 1.0)
    p = np.where(window, p_major_after if p_major_after is not None else p_major, p_major)
    return pd.DataFrame({"district_code": [f"D{i}" for i in d], "week_start": START + pd.to_timedelta(7 * t, unit="D"),
                         "y": rng.poisson(mu).astype(np.float64), "major": (rng.random(len(d)) < p).astype(np.float64)})


TWO = withdrawals(("W1", "D1", 60, "foreign combat"), ("W2", "D5", 70, "peacekeeping"))


def pooled(table: pd.DataFrame, scope: str = "district") -> pd.DataFrame:
    return table[(table["group"] == "pooled") & (table["scope"] == scope)]


# ---------------------------------------------------------------------------------------------- solver


def test_the_concentrated_poisson_fit_equals_statsmodels_with_dummies():
    rng = np.random.default_rng(3)
    d, t = np.repeat(np.arange(7), 40), np.tile(np.arange(40), 7)
    keep = rng.random(len(d)) > 0.1                      # unbalanced
    d, t = d[keep], t[keep]
    X = np.column_stack([(d == 1) & (t > 20), (d == 2) & (t > 25), (d < 3) & (t % 5 == 0)]).astype(np.float64)
    mu = 3 * np.exp(0.3 * d + 0.02 * t + X @ [0.5, -0.3, 0.2])
    y = rng.negative_binomial(2, 2 / (2 + mu)).astype(np.float64)
    dummies = np.column_stack([d == i for i in range(7)] + [t == j for j in range(1, 40)]).astype(np.float64)
    design = np.hstack([X, dummies])
    clustered = sm.GLM(y, design, family=sm.families.Poisson()).fit(cov_type="cluster", cov_kwds={"groups": d}, tol=1e-12)
    scaled = sm.GLM(y, design, family=sm.families.Poisson()).fit(scale="X2", tol=1e-12)
    ours = poisson_fe(y, X, d, t, d)
    np.testing.assert_allclose(ours.beta, clustered.params[:3], rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov_cluster)), clustered.bse[:3], rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov_model)), scaled.bse[:3], rtol=1e-5)


# ---------------------------------------------------------------------------------------------- effects


def test_a_doubling_after_week_0_gives_irr_2_and_flat_pre_bins():
    panel = make_panel(effect=2.0)
    nb = line_neighbours(8)
    effects = window_effects(panel, TWO, nb).table
    own = pooled(effects)
    assert len(own) == 3
    np.testing.assert_allclose(own["irr"], 2.0, rtol=0.1)
    assert (own["errors"] == CLUSTERED).all()
    assert (own["n_withdrawals"] == 2).all() and (own["treated_districts"] == 2).all()
    assert (own["mean_after"] > 1.7 * own["mean_before"]).all()
    np.testing.assert_allclose(pooled(effects, "neighbours")["irr"], 1.0, atol=0.1)
    per = effects[effects["level"] == "withdrawal"]
    assert set(per["group"]) == {"W1", "W2"} and (per["errors"] == MODEL_BASED).all()
    np.testing.assert_allclose(per.loc[per["scope"] == "district", "irr"], 2.0, rtol=0.1)
    assert set(effects.loc[effects["level"] == "kind", "group"]) == {"foreign combat", "peacekeeping"}

    table = event_study(panel, TWO, nb).table
    bins = pooled(table)
    assert list(zip(bins["rel_start"], bins["rel_end"]))[:2] == [(-26, -24), (-24, -20)]
    assert list(zip(bins["rel_start"], bins["rel_end"]))[-1] == (24, 26)
    pre, post = bins[bins["rel_end"] <= 0], bins[bins["rel_start"] >= 0]
    np.testing.assert_allclose(pre["irr"], 1.0, atol=0.12)
    np.testing.assert_allclose(post["irr"], 2.0, rtol=0.12)
    assert (bins["treated_districts"] == 2).all()
    weeks = (panel["week_start"] - START).dt.days // 7
    in_windows = ((panel["district_code"] == "D1") & weeks.between(34, 85)) | (
        (panel["district_code"] == "D5") & weeks.between(44, 95))
    assert bins["events"].sum() == panel.loc[in_windows, "y"].sum()
    assert bins["treated_rows"].sum() == 2 * 52


def test_without_an_effect_the_interval_covers_1():
    panel = make_panel(effect=1.0)
    effects = window_effects(panel, TWO, line_neighbours(8)).table
    for level in ("pooled", "withdrawal"):
        rows = effects[effects["level"] == level]
        assert ((rows["ci_low"] <= 1.0) & (rows["ci_high"] >= 1.0)).all(), rows
    lines = sentences(effects)
    assert len(lines) == 6 and all("no measurable change" in line for line in lines)


def test_sentences_phrase_a_change_and_no_change():
    table = pd.DataFrame({"scope": ["district", "neighbours", "district"], "group": ["pooled", "pooled", "W1"],
                          "window_weeks": [13, 13, 13], "irr": [1.43, 1.1, 3.0], "ci_low": [1.12, 0.8, 2.0],
                          "ci_high": [2.1, 1.5, 4.0]})
    first, second = sentences(table)
    assert first == ("In the 13 weeks after a force left a district, violent events there were 1.4 times (95% CI "
                     "1.1-2.1) what the same districts saw in the 13 weeks before, relative to districts without a change.")
    assert "neighbouring district" in second and "no measurable change" in second


# ---------------------------------------------------------------------------------------------- exposure


def test_neighbour_rows_get_the_neighbour_indicators_and_own_rows_do_not():
    panel = make_panel(n_weeks=120)
    w = withdrawals(("W1", "D1", 60, "foreign combat"), ("W3", "D2", 64, "regional"))
    frame = exposure(panel, w, line_neighbours(8)).frame
    at = frame.set_index(["district_code", (frame["week_start"] - START).dt.days // 7])
    # D1 has its own withdrawal: own indicators only, although its neighbour D2 also lost a force.
    assert at.loc[("D1", 60), "own_rel"] == 0 and at.loc[("D1", 60), "own_withdrawal"] == "W1"
    assert at.loc[("D1", 60), "nbr_rel"] is pd.NA
    # ... until its own window is over while the neighbour's is not: then the neighbour's.
    assert at.loc[("D1", 88), "own_rel"] is pd.NA
    assert at.loc[("D1", 88), "nbr_rel"] == 24 and at.loc[("D1", 88), "nbr_district"] == "D2"
    assert at.loc[("D0", 50), "nbr_rel"] == -10 and at.loc[("D0", 50), "own_rel"] is pd.NA
    assert at.loc[("D3", 64), "nbr_withdrawal"] == "W3"
    assert at.xs("D5", level=0)[["own_rel", "nbr_rel"]].isna().all().all()     # two districts away
    bins = event_study(panel, w, line_neighbours(8)).table
    nbr = pooled(bins, "neighbours")
    assert nbr["treated_districts"].max() <= 3 and nbr["treated_rows"].sum() > 0


def test_overlapping_withdrawals_count_each_row_once_with_the_nearest():
    panel = make_panel(treated={1: 60})
    w = withdrawals(("A", "D1", 60, "foreign combat"), ("B", "D1", 70, "peacekeeping"))
    frame = exposure(panel, w, line_neighbours(8)).frame
    d1 = frame[frame["district_code"] == "D1"]
    d1 = d1.set_index((d1["week_start"] - START).dt.days // 7)
    expected = {55: ("A", -5), 64: ("A", 4), 65: ("A", 5), 66: ("B", -4), 80: ("B", 10), 95: ("B", 25)}
    for week, (wid, rel) in expected.items():
        assert (d1.loc[week, "own_withdrawal"], d1.loc[week, "own_rel"]) == (wid, rel), week
    assert d1.loc[33, "reference"] and not d1.loc[34, "reference"] and d1.loc[96, "reference"]
    assert d1.loc[33, "period"] == 0 and d1.loc[96, "period"] == 1
    table = event_study(panel, w, line_neighbours(8)).table
    own = pooled(table)
    assert own["treated_rows"].sum() == 96 - 34                   # weeks 34 .. 95, each counted once


def test_a_withdrawal_outside_the_panel_is_dropped_and_noted():
    panel = make_panel(treated={1: 60})
    w = withdrawals(("W1", "D1", 60, "foreign combat"), ("OLD", "D3", -40, "regional"),
                    ("LATE", "D6", 110, "regional"), ("ELSEWHERE", "X9", 60, "regional"))
    ex = exposure(panel, w, line_neighbours(8))
    assert set(ex.withdrawals["withdrawal_id"]) == {"W1", "LATE"}
    assert any("OLD dropped" in n for n in ex.notes) and any("ELSEWHERE dropped" in n for n in ex.notes)
    assert any("LATE: only 36 of the 52 weeks" in n for n in ex.notes)
    result = event_study(panel, w, line_neighbours(8))
    assert any("OLD dropped" in n for n in result.notes)
    assert np.isfinite(pooled(result.table)["irr"]).all()


def test_a_district_whose_only_events_fall_in_its_windows_is_dropped_not_given_a_huge_irr():
    panel = make_panel(treated={1: 60}, base=3.0)
    panel.loc[(panel["district_code"] == "D1") & (panel["week_start"] < monday(34)), "y"] = 0.0
    result = event_study(panel, withdrawals(("W1", "D1", 60, "foreign combat")), line_neighbours(8))
    own = pooled(result.table)
    assert own["irr"].isna().all() and (own["events"] > 0).all()
    assert any("separation" in n for n in result.notes)
    assert np.isfinite(pooled(result.table, "neighbours")["irr"]).all()


def test_a_panel_that_is_not_a_rectangle_is_refused():
    panel = make_panel()
    with pytest.raises(ValueError, match="rectangle"):
        event_study(panel.iloc[1:], TWO, line_neighbours(8))


# ---------------------------------------------------------------------------------------------- hazards


def test_more_frequent_major_attacks_after_give_a_hazard_ratio_above_1():
    treated = {1: 70, 4: 80, 7: 90}
    panel = make_panel(n_districts=10, n_weeks=160, treated=treated, base=20.0, p_major=0.05, p_major_after=0.5,
                       seed=5)
    w = withdrawals(*[(f"W{d}", f"D{d}", week, "foreign combat") for d, week in treated.items()])
    result = hazard_ratios(panel, w, line_neighbours(10))
    table = result.table.set_index(["scope", "window_weeks"])
    assert table.loc[("district", 26), "hazard_ratio"] > 3 and table.loc[("district", 26), "ci_low"] > 1
    assert table.loc[("district", 26), "treated_rows"] == 78
    assert list(result.table.columns) == ["scope", "window_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value",
                                          "treated_rows", "major_attack_weeks_treated"]


def test_no_major_attack_after_gives_nan_and_a_note():
    treated = {1: 70, 4: 80}
    panel = make_panel(n_districts=10, n_weeks=160, treated=treated, base=20.0, p_major=0.1, p_major_after=0.0)
    w = withdrawals(*[(f"W{d}", f"D{d}", week, "foreign combat") for d, week in treated.items()])
    result = hazard_ratios(panel, w, line_neighbours(10), windows=(13,))
    row = result.table.set_index("scope").loc["district"]
    assert np.isnan(row["hazard_ratio"]) and row["major_attack_weeks_treated"] == 0
    assert any("no major attack" in n for n in result.notes)


# ---------------------------------------------------------------------------------------------- hygiene


def test_inputs_are_not_mutated():
    panel, nb = make_panel(), line_neighbours(8)
    w = pd.concat([TWO, withdrawals(("OLD", "D3", -60, "regional"))], ignore_index=True)
    copies = panel.copy(deep=True), w.copy(deep=True), nb.copy(deep=True)
    exposure(panel, w, nb)
    event_study(panel, w, nb, group="kind")
    window_effects(panel, w, nb, windows=(4,))
    hazard_ratios(panel, w, nb, windows=(4,))
    for before, after in zip(copies, (panel, w, nb)):
        pd.testing.assert_frame_equal(before, after)


def test_the_figure_has_one_panel_per_scope():
    table = event_study(make_panel(), TWO, line_neighbours(8)).table
    fig = event_study_figure(table)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_yscale() == "log"
