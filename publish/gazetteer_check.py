"""What a new country looks like to Vigie: its districts, their contiguity, its registries and what looks wrong.

Three pure functions, nothing read or written: :func:`gazetteer_summary` reduces a gazetteer, its country and
its registries to plain JSON-able values; :func:`gazetteer_check_html` renders them as one self-contained page
(inline CSS and SVG, no script, no external resource; ``templates/gazetteer_check.html.j2``, autoescaped);
:func:`gazetteer_check_lines` gives the few lines the terminal prints. The caller writes the page.

Units: areas are square kilometres measured in the equal-area projection of
:func:`features.gazetteer.metric_crs`; populations are persons; map coordinates are SVG user units.
"""

from __future__ import annotations

import pandas as pd

from features.gazetteer import NEIGHBOUR_TOLERANCE_M, metric_crs
from features.registries import FOREIGN_FORCES_FILE, POLITICAL_CALENDAR_FILE
from publish.report import district_svg_paths, template_environment

#: A district smaller than this (km2) is reported as a problem: a sliver or a boundary file in the wrong unit.
MIN_AREA_KM2 = 1.0
#: Maps of at most this many districts carry each district's name at its representative point.
MAX_LABELLED = 60
TEMPLATE = "gazetteer_check.html.j2"


def gazetteer_summary(gazetteer, country, registries) -> dict:
    """Plain values (str, int, float, bool, lists, dicts) describing a country's gazetteer and registries.

    ``gazetteer``: a :class:`features.gazetteer.Gazetteer`; ``country``: a :class:`features.country.Country`;
    ``registries``: a :class:`features.table.Registries`. Districts keep the gazetteer's order (by code); each
    has its population (persons), its number of neighbours and its area (km2, one decimal). ``regions`` holds
    each admin-1 name with its number of districts, sorted by name. ``n_neighbour_pairs`` counts each pair once.
    ``population.uniform`` is True when every district has population 1 (no population table joined).
    ``problems`` are plain sentences, empty when nothing looks wrong.
    """
    districts = _district_rows(gazetteer)
    population = _population(gazetteer.districts["population"])
    summary = {
        "iso3": str(country.iso3),
        "name": str(country.name),
        "folder": str(country.folder),
        "n_districts": len(districts),
        "n_regions": int(gazetteer.districts["admin1_name"].nunique()),
        "regions": _regions(gazetteer.districts),
        "districts": districts,
        "n_neighbour_pairs": len(_pairs(gazetteer.neighbours)),
        "isolated": [d["district_name"] for d in districts if d["neighbours"] == 0],
        "population": population,
        "registries": _registries(registries),
        "rainy_season_months": [int(m) for m in country.rainy_season_months],
        "actor_names": [str(n) for n in country.actor_names],
    }
    summary["problems"] = _problems(summary)
    return summary


def gazetteer_check_html(summary: dict, gazetteer) -> str:
    """The check page of ``summary`` (from :func:`gazetteer_summary`), its map drawn from ``gazetteer``'s polygons.

    The map shows every district with its name as a tooltip, labels at the representative points when there
    are at most :data:`MAX_LABELLED` districts, and a thin line between the representative points of every
    pair of neighbours. Returns the HTML text; every value taken from the data is escaped.
    """
    return template_environment().get_template(TEMPLATE).render(
        summary=summary,
        map=_map_view(summary, gazetteer),
        table=[_table_row(d) for d in summary["districts"]],
        registries=_registry_rows(summary["registries"]),
        tolerance_m=f"{NEIGHBOUR_TOLERANCE_M:g}",
    )


def gazetteer_check_lines(summary: dict) -> list[str]:
    """The terminal's lines for ``summary``: country, counts, isolated districts, population, registries, problems."""
    population = summary["population"]
    people = ("no population table (every district counts 1)" if population["uniform"]
              else f"{population['total']:,} persons (district min {population['min']:,}, max {population['max']:,})")
    registries = "; ".join(f"{r['file']} {r['status']}" for r in _registry_rows(summary["registries"]))
    return [
        f"{summary['name']} ({summary['iso3']}): {summary['folder']}",
        f"districts: {summary['n_districts']} in {summary['n_regions']} regions",
        f"neighbour pairs: {summary['n_neighbour_pairs']}",
        f"isolated: {', '.join(summary['isolated']) or 'none'}",
        f"population: {people}",
        f"registries: {registries}",
        *(f"problem: {p}" for p in summary["problems"]),
    ]


# ---------------------------------------------------------------------------------------------- summary pieces


def _pairs(neighbours: pd.DataFrame) -> pd.DataFrame:
    """Each neighbour pair once, as (a, b) with a < b by code."""
    codes = neighbours[["district_code", "neighbour_code"]].astype(str)
    a, b = codes.min(axis=1), codes.max(axis=1)
    return pd.DataFrame({"a": a, "b": b}).drop_duplicates().reset_index(drop=True)


def _areas_km2(districts) -> pd.Series:
    """Area of each district in km2, measured in the districts' equal-area projection."""
    return districts.geometry.to_crs(metric_crs(districts)).area / 1e6


def _district_rows(gazetteer) -> list[dict]:
    """One dict per district: code, name, region, population (persons), neighbours (count), area_km2."""
    districts = gazetteer.districts
    counts = gazetteer.neighbours.groupby("district_code").size()
    neighbours = counts.reindex(districts["district_code"].astype(str).to_numpy(), fill_value=0)
    frame = pd.DataFrame({
        "district_code": districts["district_code"].astype(str).to_numpy(),
        "district_name": districts["district_name"].astype(str).to_numpy(),
        "admin1_name": districts["admin1_name"].astype(str).to_numpy(),
        "population": districts["population"].astype("int64").to_numpy(),
        "neighbours": neighbours.astype("int64").to_numpy(),
        "area_km2": _areas_km2(districts).round(1).to_numpy(),
    })
    return [
        {**row, "population": int(row["population"]), "neighbours": int(row["neighbours"]),
         "area_km2": float(row["area_km2"])}
        for row in frame.to_dict("records")
    ]


def _regions(districts) -> list[dict]:
    """Each admin-1 name with its number of districts, sorted by name."""
    sizes = districts.groupby("admin1_name").size().sort_index()
    return [{"admin1_name": str(name), "districts": int(n)} for name, n in sizes.items()]


def _population(population: pd.Series) -> dict:
    """Total, smallest and largest district population (persons); uniform when every district counts 1."""
    values = population.astype("int64")
    return {"total": int(values.sum()), "min": int(values.min()), "max": int(values.max()),
            "uniform": bool((values == 1).all())}


def _rows(frame: pd.DataFrame | None) -> int | None:
    return None if frame is None else len(frame)


def _registries(registries) -> dict:
    """Rows of the foreign-force and political-calendar registries (None when absent) and the loading notes."""
    return {"foreign_forces": _rows(registries.forces), "political_calendar": _rows(registries.calendar),
            "notes": [str(n) for n in registries.notes]}


def _problems(summary: dict) -> list[str]:
    """Plain sentences on what looks wrong: isolated districts, no population, missing registries, tiny districts."""
    problems = []
    if summary["isolated"]:
        problems.append(f"{len(summary['isolated'])} district(s) have no neighbour: {', '.join(summary['isolated'])}. "
                        "Unless they are islands, the boundaries probably leave a gap around them.")
    if summary["population"]["uniform"]:
        problems.append("Every district has population 1: the gazetteer has no population table, so population "
                        "figures (and simulated events, which scale with population) mean nothing.")
    problems += summary["registries"]["notes"]
    problems += [f"District {d['district_name']} ({d['district_code']}) covers {d['area_km2']:g} km2, less than "
                 f"{MIN_AREA_KM2:g} km2: a sliver, or boundaries in the wrong unit or projection?"
                 for d in summary["districts"] if d["area_km2"] < MIN_AREA_KM2]
    return problems


# ---------------------------------------------------------------------------------------------- page pieces


def _registry_rows(registries: dict) -> list[dict]:
    """One row per optional registry: its file name and 'N rows' or 'missing'."""
    found = ((FOREIGN_FORCES_FILE, registries["foreign_forces"]),
             (POLITICAL_CALENDAR_FILE, registries["political_calendar"]))
    return [{"file": name, "found": rows is not None, "status": "missing" if rows is None else f"{rows} rows"}
            for name, rows in found]


def _table_row(district: dict) -> dict:
    """A district as the table shows it: population with thousands separators, area in km2."""
    return {**district, "population": f"{district['population']:,}", "area_km2": f"{district['area_km2']:,.1f}"}


def _map_view(summary: dict, gazetteer) -> dict:
    """viewBox, district paths with tooltips, name labels (when few districts) and neighbour links (SVG units)."""
    paths, width, height = district_svg_paths(gazetteer.districts)
    facts = pd.DataFrame(summary["districts"])
    places = paths.merge(facts, on="district_code", how="left")
    places["tooltip"] = (places["district_name"] + " (" + places["admin1_name"] + "), " + places["district_code"]
                         + ": " + places["neighbours"].astype(str) + " neighbour(s)")
    places["isolated"] = places["neighbours"] == 0
    points = places.set_index("district_code")[["label_x", "label_y"]]
    links = (_pairs(gazetteer.neighbours)
             .join(points.add_prefix("a_"), on="a").join(points.add_prefix("b_"), on="b")
             .dropna())
    labelled = len(places) <= MAX_LABELLED
    return {
        "width": width,
        "height": height,
        "districts": places[["path", "tooltip", "isolated"]].to_dict("records"),
        "labels": places[["label_x", "label_y", "district_name"]].to_dict("records") if labelled else [],
        "links": links[["a_label_x", "a_label_y", "b_label_x", "b_label_y"]].to_dict("records"),
    }
