"""Tests of bench/reference.py: the parser of ../shared/reference/skill-reference.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.reference import (
    ACLED_PROTOCOL,
    COLUMNS,
    DEFAULT_PATH,
    UCDP_PROTOCOL,
    ReferenceError,
    best_rows,
    best_value,
    parse_reference,
    read_reference,
)

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "skill_reference_small.md"
TSB = "statsforecast TSB (0.1, 0.1), refit each origin"
LGBM = "mlforecast 1.1 + LightGBM (Poisson; lags 1-52)"


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return read_reference(SMALL)


def test_small_file_becomes_a_tidy_frame(small):
    assert list(small.columns) == list(COLUMNS)
    assert len(small) == 11 + 4  # the empty cell is left out; the non-reference table is ignored
    assert set(small["protocol"]) == {"tiny-acled-v1", "tiny-ucdp-v1"}
    acled = small[small["protocol"] == "tiny-acled-v1"]
    assert acled["period"].isna().all()
    assert set(zip(acled["metric"], acled["horizon"])) == {("crps", 1), ("ap", 1), ("crps", 4)}
    row = acled[(acled["method"] == TSB) & (acled["metric"] == "crps") & (acled["horizon"] == 4)].iloc[0]
    assert row["value"] == 0.52 and row["label"] == "statsforecast TSB" and row["kind"] == "peer"
    assert row["line"] == 9 and row["table"].startswith("Small reference")
    kinds = acled.drop_duplicates("method").set_index("method")["kind"].to_dict()
    assert kinds == {"zero": "baseline", "mean of last 52 weeks": "baseline", TSB: "peer", LGBM: "peer"}
    ucdp = small[small["protocol"] == "tiny-ucdp-v1"]
    assert ucdp["period"].tolist() == ["V", "T", "V", "T"]
    assert ucdp.set_index(["method", "period"])["value"].to_dict() == {
        ("roll52", "V"): 0.05, ("roll52", "T"): 0.09, ("IMAPA", "V"): 0.04, ("IMAPA", "T"): 0.095}
    assert ucdp.loc[ucdp["method"] == "IMAPA", "kind"].eq("peer").all()


def test_best_rows_lowest_crps_highest_ap_first_row_wins_ties(small):
    best = best_rows(small, protocol="tiny-acled-v1").set_index(["metric", "horizon"])
    assert best.loc[("crps", 1), "method"] == TSB  # 0.19 tie with mlforecast: the row written first
    assert best.loc[("ap", 1), "method"] == LGBM and best.loc[("ap", 1), "value"] == 0.7  # higher is better
    assert best.loc[("crps", 4), "method"] == "mean of last 52 weeks"  # a baseline can be the best row
    peers = best_rows(small, protocol="tiny-acled-v1", kind="peer").set_index(["metric", "horizon"])
    assert peers.loc[("crps", 4), "method"] == TSB and peers.loc[("crps", 4), "value"] == 0.52
    assert best_rows(small, protocol="tiny-acled-v1", kind="baseline").set_index(["metric", "horizon"]).loc[
        ("crps", 1), "value"] == 0.2
    only = best_rows(small, protocol="tiny-acled-v1", methods=["zero"])
    assert set(only["method"]) == {"zero"} and len(only) == 3
    ucdp = best_rows(small, protocol="tiny-ucdp-v1").set_index("period")
    assert ucdp.loc["V", "method"] == "IMAPA" and ucdp.loc["T", "method"] == "roll52"
    assert best_value(small, "crps", 1, protocol="tiny-ucdp-v1", period="T")["value"] == 0.09
    with pytest.raises(KeyError, match="brier h=1"):
        best_value(small, "brier", 1, protocol="tiny-acled-v1")
    with pytest.raises(ValueError, match="kind"):
        best_rows(small, kind="champion")


def test_missing_file_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "skill-reference.md"
    with pytest.raises(ReferenceError, match=r"skill reference not found: .*nowhere/skill-reference\.md"):
        read_reference(missing)


def test_bad_cells_and_headers_name_the_file_and_line():
    text = SMALL.read_text(encoding="utf-8").replace("| 0.2000 | 0.500 |", "| 0.2O00 | 0.500 |")
    with pytest.raises(ReferenceError, match=r"small\.md, line 8: '0\.2O00' \(mean of last 52 weeks, crps h=1\)"):
        parse_reference(text, source="small.md")
    with pytest.raises(ReferenceError, match=r"line 5: column 'MAE h=1'"):
        parse_reference(SMALL.read_text(encoding="utf-8").replace("| AP h=1 |", "| MAE h=1 |"), source="small.md")
    with pytest.raises(ReferenceError, match="no reference table"):
        parse_reference("# nothing here\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", source="empty.md")


# ---------------------------------------------------------------------- the shared file, when present


@pytest.fixture(scope="module")
def shared() -> pd.DataFrame:
    if not DEFAULT_PATH.exists():
        pytest.skip(f"shared skill reference not found at {DEFAULT_PATH} (the ../shared folder is not beside "
                    "the repository)")
    return read_reference()


def test_shared_acled_table_best_rows(shared):
    best = best_value(shared, "crps", 1, protocol=ACLED_PROTOCOL)
    assert best["label"] in ("statsforecast TSB", "statsforecast IMAPA")
    assert best["value"] == 0.1622 and best["label"] == "statsforecast TSB"  # IMAPA prints 0.1624
    acled = shared[shared["protocol"] == ACLED_PROTOCOL]
    imapa = acled[(acled["label"] == "statsforecast IMAPA") & (acled["metric"] == "crps") & (acled["horizon"] == 1)]
    assert imapa["value"].tolist() == [0.1624]
    assert best_value(shared, "crps", 1, kind="peer")["value"] == 0.1622
    assert best_value(shared, "crps", 4, kind="peer")["label"] == "statsforecast IMAPA"
    assert best_value(shared, "crps", 1, kind="baseline")["label"] == "mean of last 13 weeks"
    peers = set(acled.loc[acled["kind"] == "peer", "label"])
    assert peers == {"statsforecast TSB", "statsforecast IMAPA", "statsforecast ADIDA", "mlforecast 1.1 + LightGBM"}
    ucdp = shared[shared["protocol"] == UCDP_PROTOCOL]
    assert set(ucdp["period"]) == {"V", "T"} and set(ucdp["horizon"]) == {1, 4}
