"""The weekly HTML risk report: one self-contained page per (country, week).

The page has no external resource at all (inline CSS, inline SVG map, no script, no font or tile), so it
opens from the file with no server and no internet. :func:`render_report` is pure: frames in, HTML text out;
the small ``*_table`` / ``*_view`` functions build the pieces it passes to the Jinja2 template
``templates/report.html.j2`` (autoescaped, so every name and text taken from the data is escaped).
:func:`write_report` is the only function that writes, atomically, beside the week's exports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely

from features.schema import newest_event
from features.sources.countries import COUNTRY_NAMES
from models.slots import HAZARD_HORIZON, HORIZONS, Slot
from publish.briefing import (
    Briefing,
    build_briefing,
    signed_percent,
    stored_driver_items,
    top_ranks,
)
from publish.exports import export_frame, simplified_geometries
from publish.schema import TIERS

TIER_COLOURS: dict[str, str] = {"low": "#ffffcc", "elevated": "#fed976", "high": "#fd8d3c", "severe": "#bd0026"}
#: Text colour readable on each tier's fill.
TIER_TEXT: dict[str, str] = {"low": "#333333", "elevated": "#333333", "high": "#1a1a1a", "severe": "#ffffff"}
NO_SCORE_COLOUR = "#d9d9d9"
#: Largest side of the map's viewBox, in SVG user units (pixels at 100% zoom).
MAP_SIZE = 760.0
#: Coverage-simplification tolerance of the map, in SVG units: sub-pixel, invisible on screen.
MAP_TOLERANCE = 0.4
TOP_N = 10
CHANGES_N = 5

RECENT_VIOLENCE_COLUMNS = ("district_name", "events_4w", "fatalities_4w", "events_13w", "fatalities_13w")
SKILL_COLUMNS = ("model", "horizon", "metric", "value", "skill")
#: Models listed per horizon in the count-skill table (best first), besides the champion and the best baseline.
SKILL_ROWS = 3

#: What each source's events must carry when shown (their licences' attribution).
SOURCE_ATTRIBUTION: dict[str, str] = {
    "ucdp": ("Events: UCDP Georeferenced Event Dataset (GED), Uppsala Conflict Data Program, CC BY 4.0 "
             "(Sundberg and Melander 2013, Journal of Peace Research 50(4); Davies, Pettersson and Öberg 2024)."),
    "acled": "Events: Armed Conflict Location & Event Data (ACLED), acleddata.com, used under ACLED's terms of use.",
    "simulated": "Events: simulated by Vigie's generative model (not real data).",
}
def country_label(iso3: str, name: str | None = None) -> str:
    """The country's name for a reader: ``name`` (the country's ``[country]`` name) when given, else the ISO3
    table's, else the code."""
    return name or COUNTRY_NAMES.get(iso3, (iso3,))[0]

_TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The methodology the report links to (the project's README, with the models, features and data).
README = Path(__file__).resolve().parents[1] / "README.md"


# --------------------------------------------------------------------------------------------------
# Formatting helpers (vectorised over Series)
# --------------------------------------------------------------------------------------------------


def _fmt(values: pd.Series, pattern: str, missing: str = "\u2014") -> pd.Series:
    """Numbers formatted with ``pattern`` (a str.format spec), ``missing`` for nulls."""
    numbers = pd.to_numeric(pd.Series(values)).astype("Float64")
    return numbers.map(pattern.format, na_action="ignore").astype(object).where(numbers.notna(), missing)


def _fmt_signed(values: pd.Series) -> pd.Series:
    return _fmt(values, "{:+.1f}")


def _as_date(value: object) -> date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _as_text_time(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "unknown"
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        return stamp.tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")
    return stamp.strftime("%Y-%m-%d %H:%M")


def _vigie_version() -> str:
    try:
        return metadata.version("vigie")
    except metadata.PackageNotFoundError:
        return "unknown"


def template_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with plain Python values and None for nulls (what the template iterates over)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


# --------------------------------------------------------------------------------------------------
# Map
# --------------------------------------------------------------------------------------------------


def _project(geoms: np.ndarray, size: float, margin: float = 4.0) -> tuple[np.ndarray, float, float, Callable]:
    """Equirectangular projection (x scaled by cos of the mid latitude) fitted into a ``size`` box, y down."""
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    kx = math.cos(math.radians((miny + maxy) / 2.0))
    span_x, span_y = max((maxx - minx) * kx, 1e-9), max(maxy - miny, 1e-9)
    scale = (size - 2 * margin) / max(span_x, span_y)

    def to_svg(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([margin + (xy[:, 0] - minx) * kx * scale, margin + (maxy - xy[:, 1]) * scale])

    width, height = span_x * scale + 2 * margin, span_y * scale + 2 * margin
    return shapely.transform(geoms, to_svg), width, height, to_svg


def district_svg_paths(districts: gpd.GeoDataFrame, size: float = MAP_SIZE) -> tuple[pd.DataFrame, float, float]:
    """SVG path data of each district, projected and fitted into a ``size`` x ``size`` box.

    Returns (frame of district_code, path, label_x, label_y in the districts' order; viewBox width; height).
    Longitude/latitude are projected equirectangularly with x scaled by cos(mid latitude); the polygons
    are simplified together below a pixel so shared borders stay shared. Rings become ``M x y L ... Z``.
    """
    places = districts.to_crs("EPSG:4326") if districts.crs is not None else districts
    raw = places.geometry.to_numpy()
    projected, width, height, to_svg = _project(raw, size)
    geoms = simplified_geometries(projected, MAP_TOLERANCE)

    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    polygonal = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    parts, part_owner = parts[polygonal], part_owner[polygonal]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, point_ring = shapely.get_coordinates(rings, return_index=True)
    first = np.r_[True, point_ring[1:] != point_ring[:-1]]
    closing = np.r_[point_ring[1:] != point_ring[:-1], True]  # each ring repeats its first point last
    keep = ~closing
    tokens = (
        pd.Series(np.where(first, "M", "L")[keep])
        + pd.Series(np.round(xy[keep, 0], 1)).map("{:g}".format).to_numpy()
        + " "
        + pd.Series(np.round(xy[keep, 1], 1)).map("{:g}".format).to_numpy()
        + pd.Series(np.where(np.r_[closing[1:], False][keep], "Z", "")).to_numpy()
    )
    owner = part_owner[ring_part[point_ring[keep]]]
    paths = tokens.groupby(owner).agg("".join).reindex(range(len(geoms)), fill_value="")

    labels = to_svg(shapely.get_coordinates(shapely.point_on_surface(raw)))
    frame = pd.DataFrame({
        "district_code": places["district_code"].astype("string").to_numpy(),
        "path": paths.to_numpy(),
        "label_x": np.round(labels[:, 0], 1),
        "label_y": np.round(labels[:, 1], 1),
    })
    return frame, round(width, 1), round(height, 1)


def map_view(rows: pd.DataFrame, districts: gpd.GeoDataFrame) -> dict:
    """Everything the template needs to draw the tier map: viewBox, one entry per district, rank labels, legend."""
    paths, width, height = district_svg_paths(districts)
    names = pd.DataFrame({
        "district_code": districts["district_code"].astype("string").to_numpy(),
        "gaz_name": districts["district_name"].astype("string").to_numpy(),
        "gaz_region": districts["admin1_name"].astype("string").to_numpy(),
    })
    cols = ["district_code", "district_name", "admin1_name", "tier", "risk_score", "rank"]
    merged = paths.merge(names, on="district_code").merge(rows[cols], on="district_code", how="left")
    scored = merged["tier"].notna()
    merged["name"] = merged["district_name"].fillna(merged["gaz_name"])
    merged["region"] = merged["admin1_name"].fillna(merged["gaz_region"])
    merged["fill"] = merged["tier"].map(TIER_COLOURS).astype(object).where(scored, NO_SCORE_COLOUR)
    merged["tooltip"] = (
        merged["name"] + " (" + merged["region"] + "): "
        + merged["tier"].fillna("no score").astype(object)
        + pd.Series(np.where(scored, ", score ", ""), index=merged.index)
        + _fmt(merged["risk_score"], "{:.1f}", missing="").astype("string")
    )
    top = top_ranks(merged[scored & (merged["rank"] <= TOP_N)], TOP_N)
    legend = [{"label": t, "colour": TIER_COLOURS[t]} for t in TIERS]
    if not scored.all():
        legend.append({"label": "no score", "colour": NO_SCORE_COLOUR})
    return {
        "width": width,
        "height": height,
        "districts": template_records(merged[["district_code", "path", "fill", "tooltip", "tier"]]),
        "labels": template_records(top[["label_x", "label_y", "rank"]].astype({"rank": "int64"})),
        "legend": legend,
    }


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def _drivers_of(rows: pd.DataFrame, briefing: "Briefing | None") -> list[list[dict]]:
    """Each row's driver items: the briefing's short labels where it has the district, else the stored texts."""
    stored = stored_driver_items(rows)
    if briefing is None:
        return stored
    return [briefing.drivers.get(code, mine) for code, mine in zip(rows["district_code"].astype(str), stored)]


def probability_text(values: pd.Series) -> pd.Series:
    """Probabilities as whole percents, never "0%" or "100%" for what is only nearly impossible or certain."""
    p = pd.to_numeric(pd.Series(values)).astype("Float64")
    text = _fmt(p, "{:.0%}")
    text = text.where(~(p < 0.005).fillna(False), "<1%")
    return text.where(~(p > 0.995).fillna(False), ">99%")


def top_table(rows: pd.DataFrame, week1: pd.DataFrame | None, n: int = TOP_N,
              briefing: "Briefing | None" = None) -> list[dict]:
    """The ``n`` highest-ranked districts with score, tier, P(any violence), next week's expected events, the
    drivers (short labels with the briefing) and the briefing's 26-week chart (None without)."""
    top = top_ranks(rows, n).reset_index(drop=True)
    if week1 is not None:
        nxt = week1[["district_code", "expected_events", "events_lo80", "events_hi80"]]
        top = top.drop(columns=["expected_events", "events_lo80", "events_hi80"]).merge(
            nxt, on="district_code", how="left"
        )
        events = (
            _fmt(top["expected_events"], "{:.1f}")
            + " ("
            + _fmt(top["events_lo80"], "{:.0f}")
            + "\u2013"
            + _fmt(top["events_hi80"], "{:.0f}")
            + ")"
        )
        top["events_next_week"] = events.where(top["expected_events"].notna(), "\u2014")
    else:
        top["events_next_week"] = "\u2014"
    table = pd.DataFrame({
        "rank": top["rank"].astype("int64"),
        "code": top["district_code"].astype(str),
        "district": top["district_name"],
        "region": top["admin1_name"],
        "score": _fmt(top["risk_score"], "{:.1f}"),
        "tier": top["tier"],
        "p_any": probability_text(top["p_any_violence_4w"]),
        "events_next_week": top["events_next_week"],
    })
    records = template_records(table)
    charts = briefing.charts if briefing is not None else {}
    for record, drivers in zip(records, _drivers_of(top, briefing)):
        record["drivers"] = drivers
        record["chart"] = charts.get(record["code"])
    return records


def changes_view(rows: pd.DataFrame, previous: pd.DataFrame | None, horizon: int, n: int = CHANGES_N,
                 briefing: "Briefing | None" = None) -> dict:
    """Biggest rises and falls of the risk score since the previous published week, each with this week's
    drivers (what moves its risk now).

    ``available`` is False (and the template says so) when there is no previous week. The change is the
    row's score_change, or this week's score minus last week's where score_change is null.
    """
    if previous is None or len(previous) == 0:
        return {"available": False, "previous_week": None, "rises": [], "falls": [], "moved_up": 0, "moved_down": 0}
    prev = previous[pd.to_numeric(previous["horizon_weeks"]) == horizon]
    if prev.empty:
        prev = previous.drop_duplicates("district_code")
    prev_week = _as_date(pd.to_datetime(prev["week_start"]).max())
    prev = prev[["district_code", "risk_score", "tier"]].rename(
        columns={"risk_score": "prev_score", "tier": "prev_tier"}
    )
    merged = rows.merge(prev, on="district_code", how="left")
    score = merged["risk_score"].astype("Float64")
    change = merged["score_change"].astype("Float64").fillna(score - merged["prev_score"].astype("Float64"))
    merged = merged.assign(change=change, prev_score=merged["prev_score"].astype("Float64").fillna(score - change))
    level = {t: i for i, t in enumerate(TIERS)}
    now, before = merged["tier"].map(level), merged["prev_tier"].map(level)

    def table(part: pd.DataFrame) -> list[dict]:
        records = template_records(pd.DataFrame({
            "district": part["district_name"],
            "region": part["admin1_name"],
            "previous": _fmt(part["prev_score"], "{:.1f}"),
            "score": _fmt(part["risk_score"], "{:.1f}"),
            "change": _fmt_signed(part["change"]),
            "prev_tier": part["prev_tier"],
            "tier": part["tier"],
        }))
        for record, drivers in zip(records, _drivers_of(part, briefing)):
            record["drivers"] = drivers
        return records

    rises = merged[merged["change"] > 0].sort_values(["change", "district_code"], ascending=[False, True]).head(n)
    falls = merged[merged["change"] < 0].sort_values(["change", "district_code"], ascending=[True, True]).head(n)
    return {
        "available": True,
        "previous_week": prev_week,
        "rises": table(rises),
        "falls": table(falls),
        "moved_up": int((now > before).sum()),
        "moved_down": int((now < before).sum()),
    }


def violence_view(recent_violence: pd.DataFrame, n: int = TOP_N) -> dict:
    """Top ``n`` districts by violent events in the last 4 (then 13) weeks, and national totals.

    ``recent_violence`` has one row per district: district_name, events_4w, fatalities_4w, events_13w,
    fatalities_13w (admin1_name optional). Districts with no event in 13 weeks are not listed.
    """
    missing = [c for c in RECENT_VIOLENCE_COLUMNS if c not in recent_violence.columns]
    if missing:
        raise ValueError(f"recent_violence lacks columns {missing} (needs {list(RECENT_VIOLENCE_COLUMNS)})")
    counts = list(RECENT_VIOLENCE_COLUMNS[1:])
    frame = recent_violence.copy()
    frame[counts] = frame[counts].apply(pd.to_numeric).fillna(0).astype("int64")
    totals = {c: int(frame[c].sum()) for c in counts}
    active = frame[(frame["events_4w"] > 0) | (frame["events_13w"] > 0) | (frame["fatalities_13w"] > 0)]
    ranked = active.sort_values(
        ["events_4w", "events_13w", "fatalities_13w", "district_name"], ascending=[False, False, False, True]
    ).head(n)
    columns = ["district_name", *(["admin1_name"] if "admin1_name" in frame.columns else []), *counts]
    return {
        "available": not active.empty,
        "has_region": "admin1_name" in frame.columns,
        "rows": template_records(ranked[columns]),
        "totals": totals,
        "n_districts_4w": int((frame["events_4w"] > 0).sum()),
    }


def skill_view(skill: pd.DataFrame | None, champions: Mapping[int, str] | None = None) -> dict:
    """The latest backtest's metrics (model, horizon, metric, value, skill vs best baseline), or none yet.

    ``skill`` is a fraction: 0.12 means 12% better than the best baseline on that metric, negative is worse.
    The value column may be called ``value`` or ``score``; optional columns ``baseline`` (the best
    baseline's name) and ``skill_lower``/``skill_upper`` (an interval) are shown when present, so the
    output of :func:`models.metrics.skill_table` can be passed as is. ``champions``: horizon -> the count
    champion's recipe, whose rows are marked.
    """
    if skill is None or len(skill) == 0:
        return {"available": False, "rows": [], "has_baseline": False}
    frame = skill.rename(columns={"score": "value"}) if "value" not in skill.columns else skill
    missing = [c for c in SKILL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"skill lacks columns {missing} (needs {list(SKILL_COLUMNS)})")
    frame = frame.sort_values(["horizon", "metric", "value", "model"], kind="stable")
    values = pd.to_numeric(frame["skill"]).astype("Float64")
    skill_text = signed_percent(values)
    if {"skill_lower", "skill_upper"} <= set(frame.columns):
        lower, upper = signed_percent(frame["skill_lower"]), signed_percent(frame["skill_upper"])
        has_interval = frame["skill_lower"].notna() & frame["skill_upper"].notna()
        skill_text = skill_text.where(~has_interval, skill_text + " (" + lower + " to " + upper + ")")
    horizon = pd.to_numeric(frame["horizon"]).astype("Int64")
    champion = horizon.map(dict(champions or {})).astype(object)
    table = pd.DataFrame({
        "model": frame["model"].astype(str),
        "horizon": horizon,
        "metric": frame["metric"].astype(str),
        "value": _fmt(frame["value"], "{:.3g}"),
        "skill": skill_text,
        "worse": (values.round(2) < 0).fillna(False).astype(bool),
        "is_champion": (frame["model"].astype(object) == champion).to_numpy(bool),
    })
    has_baseline = "baseline" in frame.columns
    if has_baseline:
        table["baseline"] = frame["baseline"].astype(object).where(frame["baseline"].notna(), "\u2014")
    # per horizon and metric: the best SKILL_ROWS, the champion and the best baseline; the rest is in MLflow
    place = table.groupby(["horizon", "metric"]).cumcount().to_numpy()
    best_baseline = (frame["model"] == frame["baseline"]).to_numpy() if has_baseline else False
    shown = (place < SKILL_ROWS) | table["is_champion"].to_numpy() | best_baseline
    return {"available": True, "rows": template_records(table[shown]), "has_baseline": has_baseline,
            "has_champion": bool(table["is_champion"].any()), "n_hidden": int((~shown).sum())}


def freshness_view(freshness: dict, data_cutoff: date) -> dict:
    """Last event date, cutoff, days between, sources and ingest time; ``stale`` when the days between exceed
    ``max_staleness_days`` (the freshness gate's limit, settings ``quality.max_staleness_days``).

    ``freshness`` keys: last_event_date, data_cutoff (defaults to the scores' cutoff), sources (text or a
    list of texts), ingested_at, max_staleness_days (required). A missing last event date counts as stale.
    """
    limit = int(freshness["max_staleness_days"])
    last = _as_date(freshness.get("last_event_date"))
    cutoff = _as_date(freshness.get("data_cutoff")) or data_cutoff
    days = (cutoff - last).days if last is not None else None
    sources = freshness.get("sources", freshness.get("source"))
    if sources is None or (not isinstance(sources, str) and len(sources) == 0):
        source_text = "unknown"
    elif isinstance(sources, str):
        source_text = sources
    else:
        source_text = ", ".join(str(s) for s in sources)
    return {
        "last_event_date": last.isoformat() if last else "none",
        "data_cutoff": cutoff.isoformat(),
        "days": days,
        "stale": days is None or days > limit,
        "limit": limit,
        "sources": source_text,
        "attribution": [text for key, text in SOURCE_ATTRIBUTION.items() if key in source_text.lower()],
        "ingested_at": _as_text_time(freshness.get("ingested_at")),
    }


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------


#: How far back the "what changed recently" list of the foreign-forces section looks (weeks).
FORCES_RECENT_WEEKS = 26


def forces_view(forces: dict | None, week: date) -> dict | None:
    """The foreign-forces section: who is where at the week's Monday, what changed in the last
    :data:`FORCES_RECENT_WEEKS` weeks, and the estimated effect of a withdrawal (the pooled sentences).

    ``forces``: {"deployments": registry rows with district_code (start < Monday <= end = present),
    "withdrawals": :func:`features.forces.departures` rows, "sentences": [...], "caveat": text, and optionally
    "study_cutoff": the last week the sentences' study saw}; None: no section.
    """
    if forces is None:
        return None
    monday = pd.Timestamp(week)
    d = forces["deployments"]
    present = d[(d["start"] < monday) & (d["end"].isna() | (d["end"] >= monday))]
    where = present.groupby("force", sort=True)["location"].agg(lambda x: ", ".join(sorted(set(x))))
    since = monday - pd.Timedelta(weeks=FORCES_RECENT_WEEKS)
    arrived = d[(d["start"] >= since) & (d["start"] < monday)]
    left = forces["withdrawals"]
    left = left[(left["week_start"] > since) & (left["week_start"] <= monday)] if len(left) else left
    changes = [{"date": str(pd.Timestamp(r.start).date()), "text": f"{r.force} arrives in {r.location}"}
               for r in arrived.itertuples()]
    changes += [{"date": "week of " + str((pd.Timestamp(r.week_start) - pd.Timedelta(days=7)).date()),
                 "text": r.label + ("" if r.handed_over else "; nobody took over")} for r in left.itertuples()]
    return {"present": [{"force": f, "bases": b, "kind": str(present.loc[present["force"] == f, "kind"].iloc[0])}
                        for f, b in where.items()],
            "changes": sorted(changes, key=lambda c: c["date"].removeprefix("week of ")), "recent_weeks": FORCES_RECENT_WEEKS,
            "sentences": list(forces["sentences"]), "caveat": forces["caveat"],
            "study_cutoff": forces.get("study_cutoff")}


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def tier_bands(thresholds: tuple[float, float, float]) -> list[dict]:
    """Each tier's name, colours and score range ("10 to 25"), from the elevated, high and severe thresholds."""
    edges = [0.0, *thresholds, 100.0]
    return [{"name": t, "colour": TIER_COLOURS[t], "text": TIER_TEXT[t],
             "range": f"{edges[i]:g} to {edges[i + 1]:g}" if i < len(TIERS) - 1 else f"{edges[i]:g} or more"}
            for i, t in enumerate(TIERS)]


def render_report(
    scores: pd.DataFrame,
    districts: gpd.GeoDataFrame,
    *,
    recent_violence: pd.DataFrame,
    skill: pd.DataFrame | None,
    freshness: dict,
    previous: pd.DataFrame | None,
    tiers: tuple[float, float, float],
    major_rule: str,
    forces: dict | None = None,
    country_name: str | None = None,
    briefing: Briefing | None = None,
    count_champions: Mapping[int, str] | None = None,
) -> str:
    """The self-contained HTML report of one (country, week) publish.

    ``scores``: the publish's rows (all horizons; the map and tables use the 4-week rows, next week's
    expected events the 1-week rows); ``districts``: the gazetteer's districts (district_code,
    district_name, admin1_name, geometry); ``recent_violence``: see :func:`violence_view`; ``skill``: see
    :func:`skill_view` (None: no backtest yet); ``freshness``: see :func:`freshness_view`; ``previous``: the
    previous published week's rows, or None; ``tiers``: the elevated, high and severe thresholds (0-100);
    ``major_rule``: which events are major attacks, in words; ``forces``: see :func:`forces_view` (None: no
    section); ``country_name``: the country's name (default: the ISO3 table's); ``briefing``: short driver
    labels, charts, deadliest events and headline skill (:func:`publish.briefing.build_briefing`; None:
    the stored driver texts, no charts); ``count_champions``: horizon -> the count champion's recipe
    (marked in the skill table). All text is HTML-escaped.
    """
    frame = report_frame(scores)
    country = "+".join(dict.fromkeys(frame["country_iso3"].astype(str)))
    week = pd.Timestamp(frame["week_start"].iloc[0]).date()
    horizon, rows = _map_rows(frame)
    is_week1 = frame["horizon_weeks"] == 1
    week1 = frame[is_week1].reset_index(drop=True) if is_week1.any() else None
    first = frame.iloc[0]
    data_cutoff = pd.Timestamp(first["data_cutoff"]).date()
    simulated = bool(frame["is_simulated"].any())
    tier_counts = rows["tier"].value_counts().reindex(list(TIERS), fill_value=0)
    briefing = briefing or Briefing()

    context = {
        "country_iso3": country,
        "country_name": country_label(country, country_name),
        "week_start": week.isoformat(),
        "week_end": (week + timedelta(days=6)).isoformat(),
        "horizon_end": (week + timedelta(weeks=horizon) - timedelta(days=1)).isoformat(),
        "data_cutoff": data_cutoff.isoformat(),
        "simulated": simulated,
        "horizon": horizon,
        "major_rule": major_rule,
        "n_districts": len(rows),
        "tiers": [band | {"count": int(tier_counts[band["name"]])} for band in tier_bands(tiers)],
        "tier_colours": TIER_COLOURS,
        "tier_text": TIER_TEXT,
        "map": map_view(rows, districts),
        "top": top_table(rows, week1, briefing=briefing),
        "top_n": TOP_N,
        "changes": changes_view(rows, previous, horizon, briefing=briefing),
        "violence": violence_view(recent_violence),
        "events": briefing.events,
        "headline": briefing.headline,
        "skill": skill_view(skill, count_champions),
        "forces": forces_view(forces, week),
        "freshness": freshness_view(freshness, data_cutoff),
        "run_id": str(first["run_id"]),
        "count_model": str(first["count_model"]),
        "hazard_model": str(first["hazard_model"]),
        "published_at": _as_text_time(first["published_at"]),
        "vigie_version": _vigie_version(),
        "readme_path": str(README),
    }
    return template_environment().get_template("report.html.j2").render(**context)


def _map_rows(frame: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """The horizon the map and tables show (4 weeks, else the shortest published) and its rows."""
    horizons = sorted(set(frame["horizon_weeks"].astype(int)))
    horizon = HAZARD_HORIZON if HAZARD_HORIZON in horizons else horizons[0]
    return horizon, frame[frame["horizon_weeks"] == horizon].reset_index(drop=True)


def week_map_svg(scores: pd.DataFrame, districts: gpd.GeoDataFrame, names: Mapping[str, str] | None = None) -> str:
    """The report's tier map of a publish (``scores``, as :func:`render_report` takes them; for a region all its
    countries) as a standalone SVG document with a title and a legend of its own: what the week's MLflow run
    shows (no plotting library). ``names``: ISO3 -> country name (default: the ISO3 table's)."""
    frame = report_frame(scores)
    week = pd.Timestamp(frame["week_start"].iloc[0]).date()
    horizon, rows = _map_rows(frame)
    name = " and ".join(country_label(c, (names or {}).get(c)) for c in dict.fromkeys(frame["country_iso3"].astype(str)))
    macro = template_environment().get_template("tier_map.svg.j2").module.tier_map
    return str(macro(map_view(rows, districts), f"Map of the districts of {name} coloured by risk tier",
                     title=f"{name}: risk tier for the {horizon} weeks from {week.isoformat()}"))


def recent_violence_table(table, districts: pd.DataFrame) -> pd.DataFrame:
    """Events and fatalities of the last 4 and 13 weeks per district, at the table's forecast week."""
    f = table.forecast_rows()
    names = districts.set_index("district_code")["district_name"]
    f = f[f["district_code"].isin(names.index)]
    return pd.DataFrame({
        "district_name": f["district_code"].map(names).to_numpy(),
        "events_4w": f["violent_events_sum_w4"].to_numpy(), "fatalities_4w": f["fatalities_sum_w4"].to_numpy(),
        "events_13w": f["violent_events_sum_w13"].to_numpy(), "fatalities_13w": f["fatalities_sum_w13"].to_numpy(),
    })


def report_frame(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows a report shows: one country's publish (:func:`publish.exports.export_frame`), or for a region
    each country's validated rows together, ranked across the whole region (1 = the region's highest score)."""
    countries = list(dict.fromkeys(scores["country_iso3"].astype(str)))
    if len(countries) == 1:
        return export_frame(scores)
    frame = pd.concat([export_frame(scores[scores["country_iso3"].astype(str) == c]) for c in countries],
                      ignore_index=True)
    frame["rank"] = frame.groupby("horizon_weeks")["risk_score"].rank(ascending=False, method="min").astype(int)
    return frame.sort_values(["horizon_weeks", "rank", "district_code"], kind="stable").reset_index(drop=True)


def weekly_report(scores: pd.DataFrame, table, events: pd.DataFrame, districts: gpd.GeoDataFrame, *,
                  previous: pd.DataFrame | None, sources: tuple[str, ...], skill: pd.DataFrame | None,
                  max_staleness_days: int, tiers: tuple[float, float, float], evidence=None,
                  country_name: str | None = None, published: pd.DataFrame | None = None,
                  hindcast: pd.DataFrame | None = None, headline: pd.DataFrame | None = None,
                  champions: Mapping[str, str] | None = None) -> str:
    """The HTML report of a weekly run: its scores, the table's recent violence, the events' freshness, the
    briefing (:func:`publish.briefing.build_briefing`: ``published`` 1-week rows of the weeks before,
    ``hindcast`` and ``headline`` of the last selection backtest, ``champions`` {slot label: recipe}, e.g.
    {"count-h1": "hawkes_nb", "hazard-h4": "lgbm_hazard"}) and, with ``evidence``
    (:class:`models.withdrawals.WithdrawalEvidence`), the foreign-forces section."""
    last = newest_event(events)
    freshness = {"last_event_date": str(last.date()) if last is not None else None,
                 "data_cutoff": str(table.data_cutoff.date()), "sources": ", ".join(sources),
                 "ingested_at": str(pd.Timestamp.now(tz="UTC").floor("s")), "max_staleness_days": max_staleness_days}
    champions = dict(champions or {})
    frame = report_frame(scores)
    rows = frame[frame["horizon_weeks"] == HAZARD_HORIZON]
    week1 = frame[frame["horizon_weeks"] == 1]
    names = districts.set_index("district_code")["district_name"]
    briefing = build_briefing(rows, week1 if len(week1) else None, table, events, names, published=published,
                              hindcast=hindcast, headline=headline, count_champion=champions.get(Slot("count", 1).label),
                              hazard_champion=champions.get(Slot("hazard", HAZARD_HORIZON).label), top_n=TOP_N,
                              changes_n=CHANGES_N)
    count_champions = {h: champions[Slot("count", h).label] for h in HORIZONS if Slot("count", h).label in champions}
    return render_report(scores, districts, recent_violence=recent_violence_table(table, districts), skill=skill,
                         freshness=freshness, previous=previous, tiers=tiers, major_rule=table.config.major.describe(),
                         forces=evidence.report_section() if evidence is not None else None,
                         country_name=country_name, briefing=briefing, count_champions=count_champions)


def region_reports(scores: pd.DataFrame, table, events: pd.DataFrame, districts: gpd.GeoDataFrame,
                   district_countries: pd.Series, names: Mapping[str, str], *, previous: pd.DataFrame | None,
                   **common) -> dict[str, str]:
    """The reports of a regional run, keyed by ISO3 and by the region's code ("XAA+XAB"): each country's (its
    rows, its districts on the map, ranks within it) and the region's (every district on one map, ranked across
    the region). ``names``: ISO3 -> country name; ``common``: the other arguments of :func:`weekly_report`."""
    reports = {}
    for iso3 in dict.fromkeys(scores["country_iso3"].astype(str)):
        mine = districts["district_code"].isin(district_countries.index[district_countries == iso3])
        own = None if previous is None else previous[previous["country_iso3"].astype(str) == iso3]
        reports[iso3] = weekly_report(scores[scores["country_iso3"].astype(str) == iso3], table, events,
                                      districts[mine], previous=own, country_name=names[iso3], **common)
    reports["+".join(reports)] = weekly_report(scores, table, events, districts, previous=previous,
                                               country_name=" and ".join(names[c] for c in reports), **common)
    return reports


def week_reports(scores: pd.DataFrame, table, events: pd.DataFrame, gazetteer, names: Mapping[str, str], *,
                 previous: pd.DataFrame | None, **common) -> dict[str, str]:
    """The reports of a run, keyed by ISO3 (and for a region also by its code, see :func:`region_reports`):
    one country's report, or a region's reports. ``gazetteer``: the run's (one country's, or combined)."""
    if gazetteer.district_countries is None:
        (iso3, name), = names.items()
        return {iso3: weekly_report(scores, table, events, gazetteer.districts, previous=previous, country_name=name,
                                    **common)}
    return region_reports(scores, table, events, gazetteer.districts, gazetteer.district_countries, names,
                          previous=previous, **common)
