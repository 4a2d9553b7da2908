"""When a weekly run may reuse the withdrawal study of its last retraining."""

import pandas as pd
import pytest

from models.withdrawals import WithdrawalEvidence, evidence_key, reusable

DEPLOYMENTS = pd.DataFrame({"deployment_id": ["d1"], "district_code": ["A"], "kind": ["foreign combat"],
                            "start": [pd.Timestamp("2014-01-06")], "end": [pd.Timestamp("2019-06-30")]})
START = pd.Timestamp("2012-01-02")


def _study(cutoff: str | None, key: str) -> WithdrawalEvidence:
    empty = pd.DataFrame()
    return WithdrawalEvidence(empty, empty, empty, empty, ["a sentence"], [], empty,
                              None if cutoff is None else pd.Timestamp(cutoff), key)


def test_the_key_changes_with_anything_the_study_is_made_of():
    key = evidence_key(DEPLOYMENTS, START, ["ucdp"], ["A", "B"])
    assert key == evidence_key(DEPLOYMENTS, START, ["ucdp"], ["B", "A"])  # order does not matter
    corrected = DEPLOYMENTS.assign(end=[pd.Timestamp("2019-07-07")])
    others = [evidence_key(corrected, START, ["ucdp"], ["A", "B"]),
              evidence_key(DEPLOYMENTS, START, ["acled"], ["A", "B"]),
              evidence_key(DEPLOYMENTS, START, ["ucdp"], ["A"]),
              evidence_key(DEPLOYMENTS, START + pd.Timedelta(weeks=1), ["ucdp"], ["A", "B"]),
              evidence_key(DEPLOYMENTS, START, ["ucdp"], ["A", "B"], windows=(4,))]
    assert key not in others and len(set(others)) == len(others)


@pytest.mark.parametrize(("cutoff", "key", "last_week", "ok"), [
    ("2020-01-06", "k", "2020-01-06", True),    # the same week again
    ("2020-01-06", "k", "2020-02-03", True),    # four weeks on, within the age limit
    ("2020-01-06", "k", "2020-02-10", False),   # five weeks on: too old
    ("2020-01-06", "k", "2019-12-30", False),   # a re-run of an earlier week: the study saw later data
    ("2020-01-06", "other", "2020-01-06", False),  # made of something else
    (None, "k", "2020-01-06", False),           # nothing was studied: study again
])
def test_a_study_is_reused_only_when_same_inputs_not_later_and_not_too_old(cutoff, key, last_week, ok):
    assert reusable(_study(cutoff, key), "k", pd.Timestamp(last_week), max_age_weeks=4) is ok


def test_no_kept_study_is_never_reusable():
    assert not reusable(None, "k", pd.Timestamp("2020-01-06"), max_age_weeks=4)
