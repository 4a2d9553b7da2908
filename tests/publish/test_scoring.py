import numpy as np
import pandas as pd

from models.distributions import NegativeBinomial
from publish.scoring import ScoreContext, describe_drivers, score_rows, tier_of


def test_tiers_at_thresholds():
    assert list(tier_of(np.array([0, 9.99, 10, 24.9, 25, 50, 100]), 10, 25, 50)) == [
        "low", "low", "elevated", "elevated", "high", "severe", "severe"]


def test_drivers_are_the_largest_absolute_contributions_with_sign():
    contrib = pd.DataFrame({"a": [0.1, -2.0], "b": [-0.5, 0.2], "c": [0.3, 0.0]})
    drivers = describe_drivers(contrib, {"a": "attacks", "b": "bases"}, top=2)
    assert drivers[["driver_1", "driver_2"]].to_numpy().tolist() == [["- bases", "+ c"], ["- attacks", "+ bases"]]
    assert drivers[["driver_1_feature", "driver_2_feature"]].to_numpy().tolist() == [["b", "c"], ["a", "b"]]


def test_score_rows_one_per_district_and_horizon():
    districts = pd.DataFrame({"district_code": ["A", "B"], "district_name": ["Alpha", "Beta"], "admin1_name": ["R", "R"]})
    counts = {h: NegativeBinomial(np.array([0.5, 3.0]) * h, 0.5) for h in (1, 4)}
    drivers = pd.DataFrame({"driver_1": ["+ x", "+ y"], "driver_2": [pd.NA, pd.NA], "driver_3": [pd.NA, pd.NA]})
    previous = pd.DataFrame({"district_code": ["A"], "risk_score": [30.0]})
    ctx = ScoreContext("MLI", pd.Timestamp("2020-06-01"), pd.Timestamp("2020-06-01"), "run1", "c:v1", "h:v1",
                       pd.Timestamp("2020-06-01", tz="UTC"), False, "ucdp")
    out = score_rows(districts, counts, np.array([0.2, 0.6]), drivers, previous, ctx, (10, 25, 50))
    assert len(out) == 4 and set(out["horizon_weeks"]) == {1, 4}
    b = out[(out["district_code"] == "B") & (out["horizon_weeks"] == 4)].iloc[0]
    assert b["risk_score"] == 60.0 and b["tier"] == "severe" and b["rank"] == 1
    assert abs(b["p_any_violence_4w"] - counts[4].prob_at_least(1)[1]) < 1e-12
    a = out[(out["district_code"] == "A") & (out["horizon_weeks"] == 1)].iloc[0]
    assert a["score_change"] == -10.0 and a["events_lo80"] <= a["expected_events"] <= a["events_hi90"]
    assert pd.isna(out[out["district_code"] == "B"]["score_change"]).all()
