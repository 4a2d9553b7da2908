from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.attacks import WindowSet
from features.country import Country
from features.gazetteer import Gazetteer
from features.schema import VIOLENT_EVENT_TYPES, conform
from features.table import (
    DEFAULT_RECIPE,
    FeatureConfig,
    Registries,
    build_feature_table,
    target_names,
)

JNIM = "JNIM: Group for Support of Islam and Muslims"
FAMA = "Military Forces of Mali (2021-)"
CIV = "Civilians (Mali)"


def make_events(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["district_code", "event_date", "event_type", "actor1", "actor2", "fatalities"])
    events = conform(frame.assign(event_id=[f"E{i}" for i in range(len(frame))], source="acled",
                                  event_date=pd.to_datetime(frame["event_date"])))
    return events.assign(district_code=frame["district_code"].astype("string"))


EVENTS = [
    ("SIM00001", "2024-01-02", "Battles", JNIM, FAMA, 1),  # week 0
    ("SIM00001", "2024-01-16", "Battles", JNIM, FAMA, 0),  # week 2: an attack on FAMa without deaths
    ("SIM00002", "2024-01-17", "Violence against civilians", JNIM, CIV, 7),  # week 2: 7 deaths
    ("SIM00002", "2024-01-30", "Battles", JNIM, FAMA, 5),  # week 4
    ("SIM00003", "2024-02-12", "Protests", "Protesters (Mali)", None, 0),  # week 6
]
START, FORECAST = "2024-01-01", "2024-02-19"  # weeks 0..7, week 7 the forecast week


@pytest.fixture(scope="module")
def gazetteer():
    return Gazetteer.synthetic(4)


@pytest.fixture(scope="module")
def table(gazetteer):
    return build_feature_table(make_events(EVENTS), gazetteer, start=START, forecast_week=FORECAST)


def test_default_catalog(table):
    catalog = table.catalog
    assert len(table.specs) == sum(row.feature_count() for row in DEFAULT_RECIPE) + 3 == 209
    assert catalog["name"].is_unique
    assert catalog["family"].value_counts().to_dict() == {
        "perpetrators": 70, "event_types": 30, "recent_attacks": 27, "neighbours": 25, "targets": 20,
        "national": 15, "distance_weighted": 10, "trend": 5, "time_since": 4, "seasonality": 3,
    }
    assert not any(name.startswith("target_") for name in catalog["name"])
    assert catalog["description"].str.len().min() > 10 and catalog["unit"].notna().all()
    assert all(table.frame[name].dtype == np.float32 for name in table.feature_names)
    assert list(table.frame.columns) == ["district_code", "week_start", *table.feature_names, *table.targets]
    assert table.targets == target_names(FeatureConfig())
    assert list(table.target_catalog["name"]) == table.targets


def model_default_selections() -> list:
    """Every default feature selector of the models (each Select designates one feature; BOOST_FEATURES many)."""
    from models.glm import DEFAULT_GLM_FEATURES, DEFAULT_INFLATION_FEATURES
    from models.hazard import DEFAULT_HAZARD_FEATURES
    from models.self_exciting import DEFAULT_HAZARD_RATES, DEFAULT_RATE_FEATURES
    from models.suite import BOOST_FEATURES

    return [*DEFAULT_GLM_FEATURES, *DEFAULT_INFLATION_FEATURES, *DEFAULT_HAZARD_FEATURES, *DEFAULT_RATE_FEATURES,
            *DEFAULT_HAZARD_RATES, BOOST_FEATURES]


def missing_default_features(specs) -> list[str]:
    """The default selectors that do not find their feature(s) in ``specs`` (a Select must find exactly one)."""
    from features.spec import Select, select

    return [str(s) for s in model_default_selections()
            if not select(specs, s) or (isinstance(s, Select) and len(select(specs, s)) != 1)]


def test_the_features_the_models_read_exist(table):
    # foreign-force and political features need the registries: see test_real_acled_mali
    from features.forces import FAMILY_EVENTS, FAMILY_PRESENCE
    from features.political import FAMILY_CALENDAR, FAMILY_UNREST

    needs_registries = {FAMILY_PRESENCE, FAMILY_EVENTS, FAMILY_CALENDAR, FAMILY_UNREST}
    missing = missing_default_features(table.specs)
    assert [m for m in missing if not any(f in m for f in needs_registries)] == []
    assert len(missing) == 1  # ff_base_closed_w13


def test_the_default_selections_pick_the_validated_columns(table):
    """The model defaults, once lists of names, select the same columns in the same order."""
    from models.design import resolve_features
    from models.glm import DEFAULT_GLM_FEATURES, DEFAULT_INFLATION_FEATURES
    from models.hazard import DEFAULT_HAZARD_FEATURES
    from models.self_exciting import DEFAULT_HAZARD_RATES, DEFAULT_RATE_FEATURES

    def names(selection):
        return [s.name for s in resolve_features(selection, table.specs)[0]]

    assert names(DEFAULT_GLM_FEATURES) == [
        "violent_events_sum_w4", "violent_events_sum_w13", "violent_events_sum_w52", "violent_events_ewm_hl4",
        "fatalities_sum_w13", "weeks_since_violent_events", "nbr_violent_events_sum_w13", "season_sin", "season_cos"]
    assert names(DEFAULT_INFLATION_FEATURES) == ["weeks_since_violent_events", "violent_events_sum_w52"]
    assert names(DEFAULT_HAZARD_FEATURES) == [  # ff_base_closed_w13 needs the registries
        "violent_events_sum_w4", "violent_events_sum_w52", "major_attacks_sum_w13", "major_attacks_sum_w52",
        "fatalities_ewm_hl4", "weeks_since_major_attacks", "weeks_since_violent_events", "nbr_major_attacks_sum_w13",
        "season_sin", "season_cos"]
    assert names(DEFAULT_RATE_FEATURES) == [
        "violent_events_ewm_hl1", "violent_events_ewm_hl4", "violent_events_ewm_hl13", "violent_events_ewm_hl52",
        "nbr_violent_events_sum_w4", "nbr_violent_events_sum_w13", "nbr_violent_events_sum_w52"]
    assert names(DEFAULT_HAZARD_RATES) == [
        "major_attacks_sum_w13", "major_attacks_sum_w52", "major_attacks_ewm_hl4", "violent_events_ewm_hl4",
        "violent_events_ewm_hl13", "violent_events_sum_w52", "nbr_major_attacks_sum_w13", "nbr_major_attacks_sum_w52",
        "nbr_violent_events_sum_w13"]


def test_the_boosted_model_reads_own_neighbour_kernel_national_history_time_since_and_season(table):
    """BOOST_FEATURES selects what the former name prefixes did, in catalog (= column) order."""
    from features.spec import select
    from models.suite import BOOST_FEATURES

    prefixes = ("violent_events_", "fatalities_", "nbr_", "kernel_", "national_", "weeks_since", "season_")
    assert [s.name for s in select(table.specs, BOOST_FEATURES)] == [
        n for n in table.feature_names if n.startswith(prefixes)]


def test_catalog_version_follows_the_config(gazetteer, table):
    again = build_feature_table(make_events(EVENTS[:2]), gazetteer, start=START, forecast_week=FORECAST)
    assert again.catalog_version == table.catalog_version  # data does not change the catalog
    other = build_feature_table(make_events(EVENTS), gazetteer, start=START, forecast_week=FORECAST,
                                config=FeatureConfig(major_min_fatalities=10))
    assert other.catalog_version != table.catalog_version  # the major-attack rule is in the descriptions


def test_targets_start_at_week_start(table):
    frame = table.frame.set_index(["district_code", "week_start"])
    week = lambda k: pd.Timestamp(START) + pd.Timedelta(weeks=k)  # noqa: E731
    assert frame.loc[("SIM00001", week(0)), "target_violent_events_h1"] == 1
    assert frame.loc[("SIM00001", week(1)), "target_violent_events_h1"] == 0
    assert frame.loc[("SIM00001", week(0)), "target_violent_events_h4"] == 2  # weeks 0..3
    assert frame.loc[("SIM00002", week(1)), "target_fatalities_h4"] == 12  # weeks 1..4
    assert frame.loc[("SIM00002", week(2)), "target_major_attack_h1"] == 1
    assert frame.loc[("SIM00001", week(2)), "target_major_attack_h1"] == 0  # no deaths, rule "fatalities"
    # features of the same row look backwards only
    assert frame.loc[("SIM00001", week(0)), "violent_events_sum_w52"] == 0
    assert frame.loc[("SIM00001", week(1)), "violent_events_sum_w1"] == 1
    # horizons: weeks 0..6 are observed, week 7 is the forecast week
    observed = table.frame.groupby("week_start")["target_violent_events_h4"].apply(lambda s: s.notna().all())
    assert observed.tolist() == [True, True, True, True, False, False, False, False]
    assert len(table.training_rows("target_violent_events_h4")) == 4 * 4
    forecast = table.forecast_rows()
    assert len(forecast) == 4 and (forecast["week_start"] == pd.Timestamp(FORECAST)).all()
    assert forecast[table.targets].isna().all().all()


def test_major_attack_rule_from_the_config(gazetteer):
    def major(config):
        t = build_feature_table(make_events(EVENTS), gazetteer, start=START, forecast_week=FORECAST, config=config)
        return t.frame.groupby("district_code")["target_major_attack_h1"].max().tolist(), t

    assert major(FeatureConfig(horizons=(1,)))[0] == [0, 1, 0, 0]  # 7 and 5 deaths in SIM00002
    config = FeatureConfig(horizons=(1,), major_military_targets=True)
    assert config.major.rule == "either"
    values, t = major(config)
    assert values == [1, 1, 0, 0]
    assert t.frame.loc[t.frame["district_code"] == "SIM00001", "target_major_attack_h1"].tolist()[:3] == [1, 0, 1]
    both = FeatureConfig(horizons=(1,), major_rule="both", major_min_fatalities=5)
    values, t = major(both)
    assert values == [0, 1, 0, 0]  # only the deadly battle against FAMa (week 4)
    description = t.target_catalog.set_index("name").loc["target_major_attack_h1", "description"]
    assert "and against security forces" in description


def test_the_gazetteer_is_required(gazetteer):
    with pytest.raises(TypeError, match="Gazetteer"):
        build_feature_table(make_events(EVENTS), gazetteer.districts["district_code"], start=START,
                            forecast_week=FORECAST)


def test_config_validation():
    with pytest.raises(ValueError, match="contradicts"):
        FeatureConfig(major_rule="fatalities", major_military_targets=True)
    with pytest.raises(ValueError, match="major_rule"):
        FeatureConfig(major_rule="deadly")
    with pytest.raises(ValueError, match="unknown measures"):
        FeatureConfig(recipe=(WindowSet("x", ("kidnappings",), windows=(4,)),))
    with pytest.raises(ValueError, match="horizons"):
        FeatureConfig(horizons=(0,))
    assert FeatureConfig(major_rule="military").major.rule == "military"


def test_a_small_recipe_builds_only_what_it_names(gazetteer):
    config = FeatureConfig(horizons=(1,), seasonality=False,
                           recipe=(WindowSet("recent_attacks", ("violent_events",), windows=(4,)),))
    t = build_feature_table(make_events(EVENTS), gazetteer, start=START, forecast_week=FORECAST, config=config)
    assert t.feature_names == ["violent_events_sum_w4"]
    assert set(t.panel.measures) == {"violent_events", "fatalities", "major_attacks"}
    assert t.targets == ["target_violent_events_h1", "target_fatalities_h1", "target_major_attack_h1"]


def test_registries_switch_on_foreign_force_and_political_features(gazetteer):
    registries = Registries.load("MLI")  # Mali's deployments do not fall in the synthetic grid: all absent
    t = build_feature_table(make_events(EVENTS), gazetteer, start=START, forecast_week=FORECAST,
                            registries=Registries(registries.actor_families, calendar=registries.calendar))
    families = set(t.catalog["family"])
    assert "political_calendar" in families and "foreign_presence" not in families
    assert len(t.specs) > 209


def _country_with(tmp_path, **files) -> Country:
    """A country whose registry folder holds ``files`` (name without .csv -> text)."""
    folder = tmp_path / "XAA"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text)
    return Country("XAA", "Arcadia", folder, ("Arcadia",), registry_folders=(folder,))


def test_missing_or_empty_optional_registries_leave_their_features_out_and_say_so(gazetteer, tmp_path, caplog):
    calendar = (Path(__file__).resolve().parents[1] / "fixtures" / "countries" / "XAA" / "political_calendar.csv")
    header_only = "deployment_id,force,kind,location,latitude,longitude,admin2_hint,start,end,date_precision,source_note\n"
    cases = {"none": {}, "calendar only": {"political_calendar": calendar.read_text()},
             "empty forces": {"foreign_forces": header_only, "political_calendar": calendar.read_text()}}
    for i, (case, files) in enumerate(cases.items()):
        with caplog.at_level("WARNING", logger="vigie"):
            registries = Registries.load(_country_with(tmp_path / str(i), **files))
        t = build_feature_table(make_events(EVENTS), gazetteer, start=START, forecast_week=FORECAST,
                                registries=registries)
        families = set(t.catalog["family"])
        assert registries.forces is None and not families & {"foreign_presence", "foreign_force_events"}, case
        assert ("political_calendar" in families) == ("political_calendar" in files), case
        assert not [n for n in t.feature_names if n.startswith("ff_")], case
        told = " ".join(registries.notes)
        assert "foreign-force features are left out" in told, case
        assert all(note in caplog.text for note in registries.notes), case
        assert ("holds no row" in told) == (case == "empty forces"), case


def test_the_rainy_season_is_the_country_s(gazetteer):
    def rainy(months):
        t = build_feature_table(make_events(EVENTS), gazetteer, start="2024-05-27", forecast_week="2024-07-08",
                                config=FeatureConfig(rainy_season_months=months))
        return t, (t.frame.groupby("week_start")["rainy_season"].first() if "rainy_season" in t.frame else None)

    _, sahel = rainy((7, 8, 9))
    assert sahel.tolist() == [0, 0, 0, 0, 0, 1, 1]  # weeks of 2024-05-27 .. 2024-07-08
    t, june = rainy((6, 7))
    assert june.tolist() == [0, 1, 1, 1, 1, 1, 1] and "June, July" in t.catalog.set_index("name").loc["rainy_season", "description"]
    t, none = rainy(())
    assert none is None and {"season_sin", "season_cos"} <= set(t.feature_names)


def test_real_acled_mali(acled_file):
    from features.sources.detect import read_events

    gazetteer = Gazetteer.load("MLI")
    events = read_events(acled_file)
    events = pd.concat([events, gazetteer.assign(events)], axis=1)
    t = build_feature_table(events, gazetteer, start="2012-01-02", forecast_week="2020-07-27",
                            registries=Registries.load("MLI"))
    assert t.frame["district_code"].nunique() == len(gazetteer.districts) == 50
    # every assigned violent event dated in the panel's observed weeks is counted once
    dates = events["event_date"]
    counted = events["event_type"].isin(VIOLENT_EVENT_TYPES) & events["district_code"].notna() & (
        dates >= pd.Timestamp("2012-01-02")) & (dates < pd.Timestamp("2020-07-27"))
    assert t.frame["target_violent_events_h1"].sum() == counted.sum() > 2000
    assert {"foreign_presence", "political_calendar", "perpetrators"} <= set(t.catalog["family"])
    assert t.frame[t.feature_names].notna().all().all()
    assert missing_default_features(t.specs) == []
