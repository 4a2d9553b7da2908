from datetime import date

import pandas as pd
import pytest

from features.event_store import EventStore
from features.schema import conform


def _events(**overrides) -> pd.DataFrame:
    base = {
        "event_id": ["A1", "A2", "A3"],
        "source": ["acled"] * 3,
        "event_date": pd.to_datetime(["2020-01-06", "2020-01-08", "2020-01-20"]),
        "country_iso3": ["MLI"] * 3,
        "admin2": ["Gao", "Gao", "Nowhere"],
        "latitude": [16.27, 16.28, None],
        "longitude": [-0.04, -0.05, None],
        "event_type": ["Battles", "Violence against civilians", "Battles"],
        "actor1": ["JNIM: Group for Support of Islam and Muslims"] * 3,
        "fatalities": [3, 0, 7],
        "source_timestamp": pd.to_datetime([1_600_000_000] * 3, unit="s", utc=True),
    }
    base.update(overrides)
    frame = conform(pd.DataFrame(base))
    frame["district_code"] = pd.Series(["ML0701", "ML0701", pd.NA], dtype="string")
    frame["assignment"] = ["point", "point", "unassigned"]
    frame["unassigned_reason"] = pd.Series([pd.NA, pd.NA, "no coordinates and admin2 'Nowhere' not in the gazetteer"], dtype="string")
    return frame


def test_first_ingest_adds_everything_and_lists_unassigned(tmp_path):
    store = EventStore(tmp_path / "events.duckdb")
    report = store.ingest(_events(), source_file="a.csv")
    assert (report.added, report.updated, report.unchanged) == (3, 0, 0)
    assert (report.assigned, report.unassigned) == (2, 1)
    assert report.unassigned_events[0]["event_id"] == "A3"
    assert "Nowhere" in report.unassigned_events[0]["unassigned_reason"]


def test_reingest_is_unchanged(tmp_path):
    store = EventStore(tmp_path / "events.duckdb")
    store.ingest(_events(), source_file="a.csv")
    report = store.ingest(_events(), source_file="a.csv")
    assert (report.added, report.updated, report.unchanged) == (0, 0, 3)
    assert len(store.events()) == 3


def test_revision_replaces_and_older_revision_is_ignored(tmp_path):
    store = EventStore(tmp_path / "events.duckdb")
    store.ingest(_events(), source_file="a.csv")
    newer = _events(fatalities=[3, 0, 9], source_timestamp=pd.to_datetime([1_600_100_000] * 3, unit="s", utc=True))
    report = store.ingest(newer, source_file="b.csv")
    assert (report.added, report.updated, report.unchanged) == (0, 3, 0)  # a new source timestamp is a revision
    assert store.events().set_index("event_id").loc["A3", "fatalities"] == 9
    # the old export comes back: it must not roll the revision back
    again = store.ingest(_events(), source_file="a.csv")
    assert again.stale >= 1
    assert store.events().set_index("event_id").loc["A3", "fatalities"] == 9


def test_as_of_and_respect_timestamps(tmp_path):
    store = EventStore(tmp_path / "events.duckdb")
    late = pd.to_datetime([1_578_000_000, 1_600_000_000, 1_578_000_000], unit="s", utc=True)  # 2020-01-02, 2020-09-13
    store.ingest(_events(source_timestamp=late), source_file="a.csv")
    assert list(store.events(as_of=date(2020, 1, 20)).event_id) == ["A1", "A2"]
    known = store.events(as_of=date(2020, 1, 20), respect_timestamps=True)
    assert list(known.event_id) == ["A1"]


def test_delete(tmp_path):
    store = EventStore(tmp_path / "events.duckdb")
    store.ingest(_events(), source_file="a.csv")
    assert store.delete("acled", ["A2", "ZZ"]) == 1
    assert list(store.events().event_id) == ["A1", "A3"]


def test_ingest_requires_assignment(tmp_path):
    store = EventStore(tmp_path / "events.duckdb")
    with pytest.raises(ValueError, match="assignment"):
        store.ingest(conform(_events()), source_file="a.csv")


def test_pull_state_roundtrip(tmp_path):
    store = EventStore(tmp_path / "events.duckdb")
    assert store.get_pull_state("acled") is None
    store.set_pull_state("acled", {"high_water_mark": 5})
    store.set_pull_state("acled", {"high_water_mark": 6})
    assert store.get_pull_state("acled") == {"high_water_mark": 6}
