from collections import Counter
from dataclasses import replace

import pandas as pd
import pytest

from features.country import load_country
from features.gazetteer import Gazetteer
from features.labels import MAX_CHARS, MEASURE_NOUNS, short_label, value_kind
from features.spec import FeatureSpec
from features.table import FeatureConfig, feature_catalog


def spec(measure=None, statistic=None, scope="own", window=None, half_life=None, short=None, unit="events",
         description="a feature", family="test"):
    return FeatureSpec("generated_name", family, description, unit, window, measure=measure, scope=scope,
                       statistic=statistic, half_life_weeks=half_life, short_window_weeks=short)


@pytest.fixture(scope="module")
def mali_catalog() -> list[FeatureSpec]:
    """The Mali catalog as ``vigie features --list`` builds it, back as specs (NaN facts -> None)."""
    mali = load_country("MLI")
    frame = feature_catalog(Gazetteer.load("MLI"), "MLI", FeatureConfig(rainy_season_months=mali.rainy_season_months),
                            "2012-01-02")
    return [FeatureSpec(**{k: None if pd.isna(v) else v for k, v in row.items()}) for row in frame.to_dict("records")]


@pytest.mark.parametrize("fixture, label", [
    (spec("violent_events", "sum", window=4), "violence, last 4 weeks"),
    (spec("violent_events", "sum", window=1), "violence, last week"),
    (spec("violent_events", "sum", "neighbours", window=13), "violence nearby, last 13 weeks"),
    (spec("violent_events", "sum", "kernel", window=13), "violence in the wider area, last 13 weeks"),
    (spec("fatalities", "ewm", half_life=13), "deaths, 13-wk half-life"),
    (spec("major_attacks", "sum", window=52), "major attacks, last 52 weeks"),
    (spec("major_attacks", "sum", "national", window=4), "major attacks nationwide, last 4 weeks"),
    (spec("by_jnim_aq_events", "sum", window=4), "JNIM attacks, last 4 weeks"),
    (spec("violent_events", "weeks_since"), "time since last violence"),
    (spec("calendar_coup", "any", "national", window=4), "coup in the last 4 weeks"),
    (spec("calendar_coup", "weeks_since", "national"), "time since last coup"),
    (spec("calendar_election", "weeks_until", "national"), "time until next election"),
    (spec("calendar_election", "upcoming", "national", window=4), "election in the next 4 weeks"),
    (spec("violent_events", "trend", window=52, short=4), "violence trend (4 vs 52 weeks)"),
    (spec("peacekeeping_force_deployments", "any", "neighbours"), "peacekeeping base present nearby"),
    (spec("peacekeeping_force_deployments", "count"), "peacekeeping bases"),
    (spec("foreign_combat_force_deployments", "nearest_km", None), "distance to nearest foreign combat base"),
    (spec("foreign_combat_force_departures", "weeks_since"), "time since last foreign combat force departure"),
    (spec("force_vacuums", "any", window=26), "security vacuum in the last 26 weeks"),
    (spec("week_of_year", "sin", None), "time of year (sine)"),
    (spec("week_of_year", "cos", None), "time of year (cosine)"),
    (spec("violent_events", "lag", window=2), "violence, 2 weeks ago"),
])
def test_labels_from_facts(fixture, label):
    assert short_label(fixture) == label


def test_labels_never_read_the_name():
    base = spec("violent_events", "sum", window=4)
    assert short_label(replace(base, name="fatalities_ewm_hl13")) == short_label(base) == "violence, last 4 weeks"


def test_catalog_frame_facts_read_like_spec_facts():
    """Catalog frame rows hold NaN for missing facts and floats for windows: the same label."""
    from_frame = spec("calendar_coup", "weeks_since", "national", window=float("nan"), half_life=float("nan"))
    assert short_label(from_frame) == "time since last coup"
    assert short_label(spec("violent_events", "sum", window=4.0)) == "violence, last 4 weeks"


def test_unknown_facts_fall_back_to_readable_words():
    assert short_label(spec("cattle_raids", "sum", window=4)) == "cattle raids, last 4 weeks"
    assert short_label(spec("cattle_raids", "median", window=8)) == "cattle raids (median, 8 weeks)"
    assert short_label(spec("cattle_raids", "median")) == "cattle raids (median)"
    assert short_label(spec("violent_events", "sum", "admin_region", window=4)) == (
        "violence in admin region, last 4 weeks")
    assert short_label(spec("violent_events", "sum")) == "violence"  # a window statistic without its window
    assert short_label(spec("violent_events", "ewm")) == "violence"
    assert short_label(spec("violent_events", None)) == "violence"
    long = short_label(spec("very_long_measure_name_about_many_different_kinds_of_events", "sum", window=13))
    assert len(long) <= MAX_CHARS and long.endswith("..., last 13 weeks") and "_" not in long


def test_no_facts_fall_back_to_the_description():
    text = "an old feature built before specs had facts, with a long and careful description of everything"
    label = short_label(FeatureSpec("old_feature", "legacy", text, "events"))
    assert label == "an old feature built before specs had facts..."
    assert len(label) <= MAX_CHARS and text.startswith(label[:-3])
    assert short_label(FeatureSpec("old_feature", "legacy", "a short description.", "events")) == "a short description"
    assert short_label(FeatureSpec("old_feature", "legacy", "", "events")) == "old feature"


@pytest.mark.parametrize("fixture, kind", [
    (spec("violent_events", "weeks_since", unit="weeks"), "duration"),
    (spec("calendar_election", "weeks_until", "national", unit="weeks"), "duration"),
    (spec("calendar_coup", "any", "national", window=4, unit="indicator"), "flag"),
    (spec("month", "indicator", None, unit="indicator"), "flag"),
    (spec("calendar_election", "upcoming", "national", window=4, unit="indicator"), "flag"),
    (spec("cattle_raids", "median", unit="0/1"), "flag"),
    (spec("week_of_year", "sin", None, unit="unitless"), "cyclic"),
    (spec("violent_events", "sum", window=4), "amount"),
    (spec("violent_events", "trend", window=52, short=4, unit="log ratio"), "amount"),
    (spec("peacekeeping_force_deployments", "nearest_km", None, unit="km"), "amount"),
    (FeatureSpec("old_feature", "legacy", "no facts", "events"), "amount"),
])
def test_value_kind(fixture, kind):
    assert value_kind(fixture) == kind


def test_mali_catalog_labels(mali_catalog):
    labels = {s.name: short_label(s) for s in mali_catalog}
    assert len(labels) > 300
    bad = {name: label for name, label in labels.items()
           if not label or len(label) > MAX_CHARS or "_" in label or label.endswith(".")
           or (label[0].isupper() and not label.startswith(("JNIM", "Islamic State")))}
    assert not bad, f"labels not short, plain or lower case: {bad}"
    shared = {label for label, n in Counter(labels.values()).items() if n > 1}
    duplicates = {label: [name for name, other in labels.items() if other == label] for label in shared}
    assert not duplicates, f"labels shared by several features: {duplicates}"
    unknown = sorted({s.measure for s in mali_catalog if s.measure is not None} - set(MEASURE_NOUNS))
    assert not unknown, f"measures without a noun in MEASURE_NOUNS: {unknown}"
    assert {value_kind(s) for s in mali_catalog} == {"amount", "duration", "flag", "cyclic"}
    assert all(value_kind(s) == "flag" for s in mali_catalog if s.unit == "indicator")
