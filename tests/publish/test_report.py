"""Tests of the weekly HTML report: content, escaping, self-containment, atomic writing, and a headless render."""

from __future__ import annotations

import re
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from browser import REPORT_SECTIONS, check_page, require_chromium

from features.gazetteer import Gazetteer
from publish.briefing import Briefing, headline_view, history_charts
from publish.exports import write_report
from publish.report import (
    TIER_COLOURS,
    district_svg_paths,
    render_report,
    week_map_svg,
)
from publish.schema import SCORE_COLUMNS

WEEK = date(2024, 1, 8)
PREVIOUS_WEEK = date(2024, 1, 1)


def make_scores(
    districts: gpd.GeoDataFrame,
    risk,
    *,
    week: date = WEEK,
    simulated: bool = False,
    score_change=None,
    drivers=("+ violent events, last 4 weeks", "- population", None),
    driver_features=("violent_events_sum_w4", "population", None),
) -> pd.DataFrame:
    """Valid score rows for every district at horizons 1, 4 and 13; tier and rank follow ``risk``."""
    risk = np.asarray(risk, dtype=float)
    tier = np.asarray(["low", "elevated", "high", "severe"])[np.searchsorted([10, 25, 50], risk, side="right")]
    base = pd.DataFrame({
        "country_iso3": "SIM",
        "district_code": districts["district_code"].to_numpy(),
        "district_name": districts["district_name"].to_numpy(),
        "admin1_name": districts["admin1_name"].to_numpy(),
        "week_start": pd.Timestamp(week),
        "p_any_violence_4w": 0.5,
        "p_major_attack_4w": risk / 100,
        "risk_score": risk,
        "tier": tier,
        "rank": pd.Series(-risk).rank(method="first").to_numpy(int),
        "score_change": np.nan if score_change is None else np.asarray(score_change, dtype=float),
        "driver_1": drivers[0],
        "driver_2": drivers[1],
        "driver_3": drivers[2],
        "driver_1_feature": driver_features[0],
        "driver_2_feature": driver_features[1],
        "driver_3_feature": driver_features[2],
    })
    rows = [
        base.assign(horizon_weeks=h, expected_events=0.25 * h, events_lo80=0.0, events_hi80=float(h),
                    events_lo90=0.0, events_hi90=2.0 * h)
        for h in (1, 4, 13)
    ]
    return pd.concat(rows, ignore_index=True).assign(
        data_cutoff=pd.Timestamp(week) - pd.Timedelta(days=1),
        count_model="negbin@3",
        hazard_model="lgbm-hazard@7",
        run_id="run-42",
        published_at=pd.Timestamp("2024-01-08 06:00", tz="UTC"),
        is_simulated=simulated,
        event_source="simulated" if simulated else "acled",
    )[list(SCORE_COLUMNS)]


def grid(names: list[str]) -> gpd.GeoDataFrame:
    """Square districts on a grid (two columns), named ``names``."""
    index = np.arange(len(names))
    row, col = np.divmod(index, 2)
    return gpd.GeoDataFrame(
        {
            "district_code": [f"D{i:02d}" for i in index + 1],
            "district_name": names,
            "admin1_name": [f"Region {r // 2 + 1}" for r in row],
            "population": 1000,
        },
        geometry=shapely.box(-5 + col * 0.5, 14 + row * 0.5, -4.5 + col * 0.5, 14.5 + row * 0.5),
        crs="EPSG:4326",
    )


def violence(districts: gpd.GeoDataFrame, events_4w) -> pd.DataFrame:
    events = np.asarray(events_4w, dtype=int)
    return pd.DataFrame({
        "district_name": districts["district_name"].to_numpy(),
        "events_4w": events,
        "fatalities_4w": 2 * events,
        "events_13w": 3 * events,
        "fatalities_13w": 5 * events,
    })


FRESH = {"last_event_date": date(2024, 1, 5), "data_cutoff": date(2024, 1, 7), "sources": ["ACLED"],
         "ingested_at": pd.Timestamp("2024-01-08 05:00", tz="UTC"), "max_staleness_days": 14}


TIERS = (10.0, 25.0, 50.0)
MAJOR = "violent events with 5 or more fatalities"


def render(districts, scores, *, previous=None, skill=None, freshness=FRESH, recent=None, briefing=None,
           count_champions=None) -> str:
    recent = violence(districts, np.zeros(len(districts))) if recent is None else recent
    return render_report(scores, districts, recent_violence=recent, skill=skill, freshness=freshness, previous=previous,
                         tiers=TIERS, major_rule=MAJOR, briefing=briefing, count_champions=count_champions)


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, flags=re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


@pytest.fixture
def square4() -> gpd.GeoDataFrame:
    return Gazetteer.synthetic(4).districts


def test_header_and_map_name_every_district_coloured_by_tier(square4):
    html = render(square4, make_scores(square4, [5.0, 30.0, 60.0, 12.0]))
    assert "SIM" in re.search(r"<h1>(.*?)</h1>", html).group(1)
    assert "2024-01-08" in html and "data cutoff <strong>2024-01-07</strong>" in html

    svg = re.search(r"<svg .*?</svg>", html, flags=re.S).group(0)
    paths = re.findall(r'<path class="district" d="(M[^"]+Z)" fill="(#[0-9a-f]{6})"[^>]*><title>([^<]*)</title>', svg)
    assert len(paths) == 4
    by_name = {title.split(" (")[0]: fill for _, fill, title in paths}
    assert by_name == {
        "District 1": TIER_COLOURS["low"],
        "District 2": TIER_COLOURS["high"],
        "District 3": TIER_COLOURS["severe"],
        "District 4": TIER_COLOURS["elevated"],
    }
    assert any(title.endswith("severe, score 60.0") for _, _, title in paths)
    legend = section(html, "map")
    assert all(tier in legend for tier in TIER_COLOURS)


def test_the_week_map_is_the_reports_map_as_a_standalone_svg_with_title_and_legend(square4):
    """What the week's MLflow run shows: a well-formed SVG document (parsed as XML), every district filled as in
    the report, a title naming the country, the horizon and the week, and a legend of the tiers drawn."""
    from xml.etree import ElementTree

    scores = make_scores(square4, [5.0, 30.0, 60.0, 12.0])
    svg = week_map_svg(scores, square4, {"SIM": "Simulania"})
    root = ElementTree.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    fills = {p.find("s:title", ns).text.split(" (")[0]: p.get("fill") for p in root.iterfind("s:path", ns)}
    assert fills == {"District 1": TIER_COLOURS["low"], "District 2": TIER_COLOURS["high"],
                     "District 3": TIER_COLOURS["severe"], "District 4": TIER_COLOURS["elevated"]}
    inline = re.search(r"<svg .*?</svg>", render(square4, scores), flags=re.S).group(0)
    assert re.findall(r'<path class="district" d="([^"]+)"', inline) == [p.get("d") for p in root.iterfind("s:path", ns)]
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Simulania: risk tier for the 4 weeks from 2024-01-08" in texts
    assert [t for t in texts if t in TIER_COLOURS] == list(TIER_COLOURS)
    assert [r.get("fill") for r in root.iterfind("s:g/s:rect", ns)] == list(TIER_COLOURS.values())


def test_svg_projection_scales_longitude_by_cos_latitude():
    square = gpd.GeoDataFrame(
        {"district_code": ["A"], "district_name": ["A"], "admin1_name": ["R"], "population": [1]},
        geometry=[shapely.box(10.0, 59.5, 11.0, 60.5)],
        crs="EPSG:4326",
    )
    paths, width, height = district_svg_paths(square, size=400.0)
    margin = 4.0
    assert (width - 2 * margin) / (height - 2 * margin) == pytest.approx(np.cos(np.radians(60.0)), rel=1e-6)
    coordinates = np.array(re.findall(r"[ML]([-\d.]+) ([-\d.]+)", paths.loc[0, "path"]), dtype=float)
    assert len(coordinates) == 4 and paths.loc[0, "path"].endswith("Z")
    assert coordinates[:, 0].min() >= 0 and coordinates[:, 0].max() <= width
    assert coordinates[:, 1].min() >= 0 and coordinates[:, 1].max() <= height
    # North is up: the polygon's northern edge (lat 60.5) sits at the top margin.
    assert coordinates[:, 1].min() == pytest.approx(margin, abs=0.1)


def test_top_ten_table_is_in_rank_order():
    districts = grid([f"Place {c}" for c in "ABCDEFGHIJKL"])
    risk = [3.0, 80.0, 12.0, 55.0, 41.0, 7.0, 99.0, 26.0, 61.0, 18.0, 33.0, 1.0]
    html = render(districts, make_scores(districts, risk))
    rows = re.findall(r'<tr>\s*<td class="num">(\d+)</td><td class="place">([^<]+)<br>', section(html, "top"))
    expected = [districts["district_name"].iloc[i] for i in np.argsort(-np.asarray(risk))[:10]]
    assert [name for _, name in rows] == expected
    assert [int(rank) for rank, _ in rows] == list(range(1, 11))
    assert "Place L" not in section(html, "top") and "Place A" not in section(html, "top")
    # without a briefing (no feature table), the stored texts, their sign as the arrow
    assert re.search(r'<li class="up" title="violent events, last 4 weeks"><span class="arrow">&#9650;</span>violent events, last 4 weeks</li>', section(html, "top"))
    assert re.search(r'<li class="down" [^>]*><span class="arrow">&#9660;</span>population</li>', section(html, "top"))
    assert "0.2 (0\u20131)" in section(html, "top")  # next week's expected events with the 80% interval


def test_simulated_banner_only_when_simulated(square4):
    real = render(square4, make_scores(square4, [5.0, 30.0, 60.0, 12.0], simulated=False))
    simulated = render(square4, make_scores(square4, [5.0, 30.0, 60.0, 12.0], simulated=True))
    assert 'id="simulated-banner"' in simulated and "SIMULATED DATA" in simulated
    assert "SIMULATED" not in real and "simulated-banner" not in real


def test_text_from_the_data_is_escaped():
    districts = grid(["<b>X&Y</b>", "Plain"])
    scores = make_scores(districts, [70.0, 5.0], drivers=("<script>alert(1)</script>", None, None))
    html = render(districts, scores, recent=violence(districts, [3, 0]))
    assert "<b>X&Y</b>" not in html
    assert "&lt;b&gt;X&amp;Y&lt;/b&gt;" in section(html, "map")
    assert "&lt;b&gt;X&amp;Y&lt;/b&gt;" in section(html, "top")
    assert "&lt;b&gt;X&amp;Y&lt;/b&gt;" in section(html, "violence")
    assert "<script" not in html and "&lt;script&gt;" in html


def test_report_is_self_contained(square4):
    html = render(square4, make_scores(square4, [5.0, 30.0, 60.0, 12.0], simulated=True))
    assert not re.search(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", html, flags=re.I)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|img|iframe|object)\b", html, flags=re.I)
    assert "@import" not in html and "url(" not in html


def test_changes_without_and_with_a_previous_week(square4):
    first = render(square4, make_scores(square4, [5.0, 30.0, 60.0, 12.0]), previous=None)
    assert 'id="no-previous"' in first and "No previous week" in section(first, "changes")

    previous = make_scores(square4, [20.0, 28.0, 30.0, 12.0], week=PREVIOUS_WEEK)
    current = make_scores(square4, [5.0, 30.0, 60.0, 12.0], score_change=[-15.0, 2.0, 30.0, 0.0])
    html = render(square4, current, previous=previous)
    changes = section(html, "changes")
    assert "no-previous" not in changes and "2024-01-01" in changes
    rises, falls = changes.split("Largest falls")
    assert re.findall(r"<tr><td>(District \d)<br>", rises) == ["District 3", "District 2"]
    assert "+30.0" in rises and "high &rarr; severe" in rises
    assert re.findall(r"<tr><td>(District \d)<br>", falls) == ["District 1"]
    assert "-15.0" in falls and "District 4" not in changes
    assert "1 district(s) moved to a higher tier, 1 to a lower one" in changes


def test_skill_table_or_no_backtest_note(square4):
    scores = make_scores(square4, [5.0, 30.0, 60.0, 12.0])
    none_yet = render(square4, scores, skill=None)
    assert 'id="no-backtest"' in none_yet and "No backtest yet" in none_yet
    assert "no-backtest" in render(square4, scores, skill=pd.DataFrame(columns=["model", "horizon", "metric", "value",
                                                                                 "skill"]))

    skill = pd.DataFrame({"model": ["negbin@3", "lgbm-hazard@7"], "horizon": [1, 4], "metric": ["CRPS", "Brier"],
                          "value": [0.812, 0.121], "skill": [0.08, -0.03]})
    table = section(render(square4, scores, skill=skill), "skill")
    assert "no-backtest" not in table
    assert "negbin@3" in table and "0.812" in table and "+8%" in table
    assert '<td class="num worse">-3%</td>' in table

    # The shape models.metrics.skill_table returns: "score" for the value, baseline and a bootstrap interval.
    bootstrap = pd.DataFrame({"horizon": [4], "model": ["negbin@3"], "baseline": ["last-4-weeks mean"],
                              "metric": ["crps"], "score": [2.31], "baseline_score": [2.5], "skill": [0.076],
                              "skill_lower": [0.02], "skill_upper": [0.13]})
    table = section(render(square4, scores, skill=bootstrap), "skill")
    assert "2.31" in table and "last-4-weeks mean" in table and "+8% (+2% to +13%)" in table


def test_recent_violence_top_ten_and_national_totals():
    districts = grid([f"Place {c}" for c in "ABCDEFGHIJKL"])
    events = [4, 0, 9, 1, 2, 3, 5, 6, 7, 8, 10, 11]
    html = render(districts, make_scores(districts, np.linspace(1, 90, 12)), recent=violence(districts, events))
    part = section(html, "violence")
    listed = re.findall(r"<tr><td>(Place \w)</td>", part)
    assert listed == ["Place L", "Place K", "Place C", "Place J", "Place I", "Place H", "Place G", "Place A",
                      "Place F", "Place E"]
    total = sum(events)
    assert re.search(
        rf"National total</td>\s*<td class=\"num\">{total}</td><td class=\"num\">{2 * total}</td>\s*"
        rf"<td class=\"num\">{3 * total}</td><td class=\"num\">{5 * total}</td>",
        part,
    )

    quiet = render(districts, make_scores(districts, np.linspace(1, 90, 12)))
    assert "No violent event was recorded" in section(quiet, "violence")
    with pytest.raises(ValueError, match="fatalities_13w"):
        render(districts, make_scores(districts, np.linspace(1, 90, 12)),
               recent=violence(districts, events).drop(columns="fatalities_13w"))


def test_freshness_is_flagged_when_the_last_event_is_old(square4):
    scores = make_scores(square4, [5.0, 30.0, 60.0, 12.0])
    fresh = section(render(square4, scores), "freshness")
    assert "stale-warning" not in fresh and "<dd>2</dd>" in fresh and "ACLED" in fresh
    assert "2024-01-08 05:00 UTC" in fresh

    stale = section(render(square4, scores, freshness=FRESH | {"last_event_date": "2023-12-20"}), "freshness")
    assert 'id="stale-warning"' in stale and "18 days" in stale
    assert '<dd class="stale-value">18</dd>' in stale


def test_footer_names_run_models_and_publication(square4):
    html = render(square4, make_scores(square4, [5.0, 30.0, 60.0, 12.0]))
    footer = re.search(r"<footer>(.*?)</footer>", html, flags=re.S).group(1)
    assert "run-42" in footer and "negbin@3" in footer and "lgbm-hazard@7" in footer
    assert "2024-01-08 06:00 UTC" in footer


def test_write_report_is_atomic_and_replaces(tmp_path):
    path = write_report("<p>one</p>", tmp_path, "MLI", WEEK)
    assert path == tmp_path / "MLI" / "2024-01-08" / "report.html"
    write_report("<p>two \u00e9</p>", tmp_path, "MLI", pd.Timestamp(WEEK))
    assert path.read_text(encoding="utf-8") == "<p>two \u00e9</p>"
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def full_briefing(districts: gpd.GeoDataFrame, scores: pd.DataFrame) -> Briefing:
    """A briefing with every part: long driver labels, a chart per district, events with notes, headline skill."""
    codes = districts["district_code"].astype(str).tolist()
    weeks = pd.date_range(end=pd.Timestamp(WEEK), periods=27, freq="7D")
    history = pd.DataFrame({"district_code": np.repeat(codes, 27), "week_start": np.tile(weeks, len(codes))})
    history["events"] = np.where(history["week_start"] < pd.Timestamp(WEEK), np.arange(len(history)) % 7, np.nan)
    history = history.assign(mean=2.0, lo=0.0, hi=5.0, source=np.where(history["week_start"] < pd.Timestamp(WEEK),
                                                                       "backtest", "this week"))
    long_label = "violence in the wider area, 13-wk half-life: very high (120.5 vs usual 12.5)"
    drivers = {c: [{"text": long_label, "direction": "up", "description": "a long catalog description " * 5},
                   {"text": "time since last violence: very short (1 wk vs usual 10)", "direction": "down",
                    "description": "weeks since"}] for c in codes}
    notes = "On 3 January, gunmen attacked a village near the river and burned the market; a long note. " * 3
    events = {"weeks": 1, "n_events": 2, "has_notes": True,
              "rows": [{"date": "2024-01-03", "district": codes[0], "type": "Violence against civilians",
                        "actors": "Islamic State Sahel vs Civilians", "fatalities": 41, "notes": notes}]}
    headline = pd.DataFrame({"model": ["blend", "district_history", "base_rate"], "brier": [0.07, 0.08, 0.09],
                             "average_precision": [0.5, 0.4, 0.1], "base_rate": 0.1,
                             "skill_vs_history": [0.12, 0.0, -0.12], "skill_vs_base_rate": [0.22, 0.11, 0.0]})
    return Briefing(drivers=drivers, charts=history_charts(history), events=events,
                    headline=headline_view(headline, "blend"))


def test_the_briefing_in_headless_chromium_fits_its_page_shows_every_section_and_prints(tmp_path):
    require_chromium()
    districts = Gazetteer.synthetic(16).districts
    scores = make_scores(districts, np.linspace(2, 95, 16), simulated=True, score_change=np.linspace(-20, 20, 16))
    previous = make_scores(districts, np.linspace(10, 60, 16), week=PREVIOUS_WEEK, simulated=True)
    skill = pd.DataFrame({"model": ["hawkes_nb", "mean_52", "lgbm_boost"] * 3, "horizon": np.repeat([1, 4, 13], 3),
                          "metric": "crps", "score": [0.11, 0.12, 0.115] * 3, "baseline": "mean_52",
                          "skill": [0.08, 0.0, -0.004] * 3, "skill_lower": -0.01, "skill_upper": 0.1})
    html = render(districts, scores, previous=previous, skill=skill, recent=violence(districts, np.arange(16)),
                  briefing=full_briefing(districts, scores), count_champions={1: "hawkes_nb", 4: "hawkes_nb"})
    report = write_report(html, tmp_path / "exports", "SIM", WEEK)
    measured = check_page(report, REPORT_SECTIONS, tmp_path)
    assert measured["height"] > 2000
    assert 'id="definition"' in html and "major attack" in html and "25 to 50" in html
    assert html.count('class="badge">champion') == 3 and "-0%" not in html
    # The severe tier's colour is painted.
    from PIL import Image

    with Image.open(tmp_path / "page.png") as image:
        assert (0xBD, 0x00, 0x26) in {c for _, c in image.convert("RGB").getcolors(maxcolors=1_000_000)}


def test_the_report_carries_the_attribution_of_its_events_sources(square4):
    scores = make_scores(square4, [5.0, 30.0, 60.0, 12.0])
    ucdp = section(render(square4, scores, freshness=FRESH | {"sources": "ucdp"}), "freshness")
    assert "UCDP Georeferenced Event Dataset" in ucdp and "CC BY 4.0" in ucdp and "ACLED" not in ucdp
    acled = section(render(square4, scores), "freshness")
    assert "acleddata.com" in acled and "UCDP" not in acled


def test_the_foreign_forces_section_says_who_is_where_what_changed_and_the_evidence(square4):
    from publish.report import forces_view

    deployments = pd.DataFrame({
        "force": ["MINUSMA", "Wagner Group", "France (Barkhane)", "MINUSMA"],
        "kind": ["peacekeeping", "private military", "foreign combat", "peacekeeping"],
        "location": ["Gao", "Gao", "Gao", "Kidal"],
        "start": pd.to_datetime(["2013-07-01", "2022-09-01", "2014-08-01", "2013-07-01"]),
        "end": pd.to_datetime([None, None, "2022-08-15", None]),
    })
    withdrawals = pd.DataFrame({"week_start": pd.to_datetime(["2022-08-22", "2021-10-18"]),
                                "label": ["France (Barkhane) leaves Gao", "France (Barkhane) leaves Kidal"],
                                "handed_over": [False, False]})
    view = forces_view({"deployments": deployments, "withdrawals": withdrawals, "sentences": ["A sentence."],
                        "caveat": "Associations."}, date(2023, 1, 2))
    assert view["present"] == [{"force": "MINUSMA", "bases": "Gao, Kidal", "kind": "peacekeeping"},
                               {"force": "Wagner Group", "bases": "Gao", "kind": "private military"}]
    assert [c["text"] for c in view["changes"]] == ["France (Barkhane) leaves Gao; nobody took over",
                                                    "Wagner Group arrives in Gao"]  # Kidal is older than 26 weeks
    scores = make_scores(square4, [5.0, 30.0, 60.0, 12.0])
    html = render_report(scores, square4, recent_violence=violence(square4, np.arange(4)), skill=None,
                         freshness=FRESH, previous=None, tiers=TIERS, major_rule=MAJOR,
                         forces={"deployments": deployments, "withdrawals": withdrawals, "sentences": ["<b>x</b>"],
                                 "caveat": "Associations."})
    part = section(html, "forces")
    assert "Wagner Group" in part and "&lt;b&gt;x&lt;/b&gt;" in part and "Associations." in part
    assert 'id="forces"' not in render(square4, scores)
