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
