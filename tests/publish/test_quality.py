import numpy as np
import pandas as pd
import pytest

from publish.quality import (
    QualityGateError,
    coverage,
    enforce,
    freshness,
    in_range,
    jumps,
    no_missing,
    run_gates,
)


def _scores(n=2, horizons=(1, 4)):
    rows = []
    for h in horizons:
        for i in range(n):
            rows.append({"district_code": f"D{i}", "district_name": f"District {i}", "horizon_weeks": h,
                         "expected_events": 1.0, "events_lo80": 0.0, "events_hi80": 2.0, "events_lo90": 0.0,
                         "events_hi90": 3.0, "p_any_violence_4w": 0.5, "p_major_attack_4w": 0.2, "risk_score": 20.0,
                         "score_change": 1.0 if i == 0 else -40.0})
    return pd.DataFrame(rows)


def test_freshness():
    assert freshness(pd.Timestamp("2020-05-30"), pd.Timestamp("2020-06-01"), 14).passed
    stale = freshness(pd.Timestamp("2020-04-01"), pd.Timestamp("2020-06-01"), 14)
    assert not stale.passed and "61 days" in stale.message and "stale" in stale.message
    assert not freshness(None, pd.Timestamp("2020-06-01"), 14).passed


def test_coverage_missing_and_duplicates():
    assert coverage(_scores(), ["D0", "D1"], (1, 4)).passed
    short = coverage(_scores().iloc[1:], ["D0", "D1"], (1, 4))
    assert not short.passed and "1 missing" in short.message
    dup = coverage(pd.concat([_scores(), _scores().head(1)]), ["D0", "D1"], (1, 4))
    assert not dup.passed and "1 duplicated" in dup.message


def test_missing_and_range():
    s = _scores()
    s.loc[0, "p_major_attack_4w"] = np.nan
    assert not no_missing(s, ["p_major_attack_4w"]).passed
    s = _scores()
    s.loc[0, "p_any_violence_4w"] = 1.5
    s.loc[1, "events_lo80"] = 5.0
    result = in_range(s)
    assert not result.passed and "probability" in result.message and "nested" in result.message
    assert in_range(_scores()).passed


def test_jumps_warn_only():
    result = jumps(_scores(), 30)
    assert not result.passed and result.severity == "warning" and "District 1 (-40)" in result.message
    enforce([result])  # warnings never block


def test_enforce_raises_on_errors():
    results = run_gates(_scores().iloc[1:], district_codes=["D0", "D1"], horizons=(1, 4), last_event=pd.Timestamp("2020-05-30"),
                        cutoff=pd.Timestamp("2020-06-01"), max_staleness_days=14, max_jump=50, required=["risk_score"])
    with pytest.raises(QualityGateError, match="coverage"):
        enforce(results)
