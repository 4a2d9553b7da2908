from models.promotion import PromotionRule, decide


def test_first_model_promoted_when_it_beats_baseline():
    d = decide({1: 0.15, 4: 0.45}, None, {1: 0.16, 4: 0.50})
    assert d.promote and "no current champion" in d.reasons
    assert abs(d.numbers["h1_skill_vs_baseline"] - (1 - 0.15 / 0.16)) < 1e-12


def test_not_promoted_when_baseline_wins_on_one_horizon():
    d = decide({1: 0.15, 4: 0.55}, None, {1: 0.16, 4: 0.50})
    assert not d.promote and any("h=4" in r and "not above" in r for r in d.reasons)


def test_must_beat_champion_by_margin():
    rule = PromotionRule(min_gain_vs_champion=0.02)
    assert not decide({1: 0.149, 4: 0.45}, {1: 0.150, 4: 0.46}, {1: 0.16, 4: 0.50}, rule).promote
    assert decide({1: 0.140, 4: 0.44}, {1: 0.150, 4: 0.46}, {1: 0.16, 4: 0.50}, rule).promote


def test_missing_horizon_blocks():
    assert not decide({1: 0.1}, None, {1: 0.2, 4: 0.5}).promote
