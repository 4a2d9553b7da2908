"""Choosing the one source a run models, and the real events shipped with Vigie."""

from __future__ import annotations

import pytest

from features.ingest import MixedSources, choose_source, shipped_events


def test_one_source_is_kept_and_mixed_sources_are_refused():
    assert choose_source(("ucdp",)) == ("ucdp",)
    with pytest.raises(MixedSources, match="never added up; choose one with --source acled or --source ucdp"):
        choose_source(("acled", "ucdp"))
    assert choose_source(("acled", "ucdp"), "ucdp") == ("ucdp",)
    with pytest.raises(MixedSources, match="no acled events were given"):
        choose_source(("ucdp",), "acled")


def test_the_ucdp_events_of_mali_are_shipped_with_their_attribution():
    (path,) = shipped_events("MLI")
    assert path.name == "ucdp_ged_mali_1990-2022.csv" and path.stat().st_size > 1_000_000
    attribution = (path.parents[2] / "ATTRIBUTION.md").read_text()
    assert path.name in attribution and "CC BY 4.0" in attribution and "Sundberg" in attribution
    assert shipped_events("TST") == []


def test_a_simulation_never_dates_events_in_the_future():
    from datetime import date

    from features.ingest import FutureSimulation, simulation_window

    today = date(2026, 12, 3)  # a Thursday
    assert simulation_window(None, 10, today) == (date(2026, 9, 21), date(2026, 11, 29))  # ends last week's Sunday
    assert simulation_window(date(2012, 1, 2), 520, today) == (date(2012, 1, 2), date(2021, 12, 19))
    with pytest.raises(FutureSimulation, match=r"up to 2031-03-02, after today \(2026-12-03\).*on or before 2007-10-01"):
        simulation_window(date(2012, 1, 2), 1000, today)
