"""Two countries in one panel: violence crosses the border through the neighbour and kernel features; national
features, the political calendar and the actor families stay each country's own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.country import country_roots, load_country
from features.gazetteer import Gazetteer
from features.schema import conform
from features.table import Registries, build_feature_table

ROOTS = country_roots(Path(__file__).resolve().parents[1] / "fixtures" / "countries")
ARCADIAN_ARMY, BELLMARK_ARMY = "Military Forces of Arcadia (2015-)", "Military Forces of Bellmark (2015-)"
JNIM = "JNIM: Group for Support of Islam and Muslims"
START, FORECAST = "2017-05-01", "2017-08-07"


@pytest.fixture(scope="module")
def region():
    countries = {iso3: load_country(iso3, ROOTS) for iso3 in ("XAA", "XAB")}
    gazetteer = Gazetteer.combine([Gazetteer.load(iso3, c.root) for iso3, c in countries.items()])
    registries = Registries.combine({iso3: Registries.load(c) for iso3, c in countries.items()})
    return gazetteer, registries


def _events(rows) -> pd.DataFrame:
    """(country, lon, lat, date, actor1, actor2, fatalities) violent events, placed by the region's gazetteer."""
    frame = pd.DataFrame(rows, columns=["country_iso3", "longitude", "latitude", "event_date", "actor1", "actor2",
                                        "fatalities"])
    return conform(frame.assign(event_id=[f"E{i}" for i in range(len(frame))], source="acled", event_type="Battles",
                                admin1=pd.NA, admin2=pd.NA, event_date=pd.to_datetime(frame["event_date"])))


def test_the_region_is_one_gazetteer_with_neighbours_across_the_border(region):
    gazetteer, _ = region
    assert gazetteer.countries == ("XAA", "XAB") and len(gazetteer.districts) == 10
    assert gazetteer.country_of(["XA03", "XB01", "ZZ99"]).fillna("none").tolist() == ["XAA", "XAB", "none"]
    pairs = set(zip(gazetteer.neighbours["district_code"], gazetteer.neighbours["neighbour_code"], strict=True))
    assert {("XA03", "XB01"), ("XB01", "XA03"), ("XA06", "XB03"), ("XA03", "XB03")} <= pairs
    assert not {p for p in pairs if p[0] == "XA01" and p[1].startswith("XB")}  # Avel is two districts away
    with pytest.raises(ValueError, match="distinct single countries"):
        Gazetteer.combine([gazetteer, gazetteer])

    placed = gazetteer.assign(_events([("XAA", 2.25, 14.25, "2017-06-01", JNIM, None, 0),
                                       ("XAB", 2.75, 14.25, "2017-06-01", JNIM, None, 0),
                                       ("NER", 2.75, 14.25, "2017-06-01", JNIM, None, 0)]))
    assert placed["district_code"].tolist() == ["XA03", "XB01", "XB01"]  # a real other country: the point rule


def test_violence_in_one_country_raises_the_neighbour_features_of_the_other(region):
    gazetteer, registries = region
    events = _events([("XAA", 2.25, 14.25, "2017-06-14", JNIM, ARCADIAN_ARMY, 3)] * 4   # Corva, on the border
                     + [("XAA", 1.25, 14.25, "2017-06-14", JNIM, ARCADIAN_ARMY, 0)])    # Avel, far from it
    placed = events.assign(district_code=gazetteer.assign(events)["district_code"])
    table = build_feature_table(placed, gazetteer, start=START, forecast_week=FORECAST, registries=registries)
    week = table.frame[table.frame["week_start"] == pd.Timestamp("2017-06-19")].set_index("district_code")
    assert week.loc["XB01", "nbr_violent_events_sum_w4"] == 4 and week.loc["XB03", "nbr_violent_events_sum_w4"] == 4
    assert week.loc["XB04", "nbr_violent_events_sum_w4"] == 0  # Jasper touches no Arcadian district
    assert week.loc["XB02", "kernel_violent_events_sum_w4"] > 0  # the kernel reaches past the first ring
    assert (week.loc[["XA01", "XA05"], "national_violent_events_sum_w4"] == 5).all()
    assert (week.loc[["XB01", "XB04"], "national_violent_events_sum_w4"] == 0).all()  # Bellmark had none


def test_each_country_keeps_its_army_its_calendar_and_its_own_national_figures(region):
    gazetteer, registries = region
    events = _events([("XAA", 2.25, 14.25, "2017-06-14", ARCADIAN_ARMY, JNIM, 0),    # in Arcadia, its own army
                      ("XAB", 2.75, 14.25, "2017-06-14", ARCADIAN_ARMY, JNIM, 0),    # across the border: foreign
                      ("XAB", 2.75, 14.75, "2017-06-14", BELLMARK_ARMY, JNIM, 0)])
    placed = events.assign(district_code=gazetteer.assign(events)["district_code"])
    table = build_feature_table(placed, gazetteer, start=START, forecast_week=FORECAST, registries=registries)
    week = table.frame[table.frame["week_start"] == pd.Timestamp("2017-06-19")].set_index("district_code")
    assert week.loc["XA03", "by_state_forces_events_sum_w4"] == 1 and week.loc["XA03", "by_foreign_forces_events_sum_w4"] == 0
    assert week.loc["XB01", "by_foreign_forces_events_sum_w4"] == 1 and week.loc["XB01", "by_state_forces_events_sum_w4"] == 0
    assert week.loc["XB03", "by_state_forces_events_sum_w4"] == 1
    # Arcadia's registry has its 2017-06-12 coup; Bellmark has no calendar: its districts see none.
    assert (week.loc[["XA01", "XA06"], "pol_coup_w4"] == 1).all() and (week.loc[["XB01", "XB04"], "pol_coup_w4"] == 0).all()
    assert any("XAB has no political_calendar.csv" in note for note in registries.notes)
