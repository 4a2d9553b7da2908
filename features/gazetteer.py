"""Districts of a country and how events are placed in them.

A gazetteer is data plus this generic code. A country is one folder ``<data_dir>/<ISO3>/`` holding a
boundary file (admin-2 polygons), a population table, alias tables and ``gazetteer.toml``, which says
which properties hold the code, name and admin-1 name and how population rows join the districts
(see ``features/data/gazetteers/MLI/gazetteer.toml``). Adding a country needs no code change.

Units: coordinates are WGS84 degrees (EPSG:4326); distances are kilometres measured in a Lambert
azimuthal equal-area projection centred on the country; populations are persons.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from features.country import CONFIG_FILE, SHIPPED_ROOT
from features.schema import SourceFileError
from features.sources.countries import is_known_country_code
from features.sources.text_tables import delimiter_hint, read_header

log = logging.getLogger("vigie")

#: Root folder of the shipped gazetteers, one sub-folder per ISO3 code (:mod:`features.country`).
DATA_DIR = SHIPPED_ROOT

#: Polygons closer than this (metres) count as touching: absorbs slivers and gaps in boundary files.
NEIGHBOUR_TOLERANCE_M = 100.0

DISTRICT_COLUMNS = ["district_code", "district_name", "admin1_name", "population", "geometry"]
WGS84 = "EPSG:4326"

ASSIGNMENT_POINT = "point"
ASSIGNMENT_NAME = "name"
ASSIGNMENT_UNASSIGNED = "unassigned"

# Outcomes of matching one admin2 (and admin1) name against the alias table.
_MATCHED, _NO_NAME, _UNKNOWN, _AMBIGUOUS = "matched", "no name", "unknown", "ambiguous"


def normalize_name(names: pd.Series) -> pd.Series:
    """Matching key of place names: NFKD, accents stripped, casefolded, non-alphanumerics dropped.

    "Ségou" -> "segou", "Gourma-Rharous" -> "gourmarharous". Nulls and names with no letter or digit
    become NA. Returns a ``string`` Series with the input's index; the input is not modified.
    """
    codes, uniques = pd.factorize(names.astype("string"), use_na_sentinel=True)
    keys = (
        pd.Series(uniques, dtype="string")
        .str.normalize("NFKD")
        .str.replace(r"[\u0300-\u036f]", "", regex=True)  # combining diacritical marks
        .str.casefold()
        .str.replace(r"[\W_]+", "", regex=True)
    )
    keys = keys.mask(keys == "").to_numpy(dtype=object, na_value=None)
    # Normalise each distinct name once, then spread back: a million events carry a few hundred names.
    spread = np.where(codes >= 0, keys[codes] if len(keys) else None, None)
    return pd.Series(pd.array(spread, dtype="string"), index=names.index)


def _empty_aliases() -> pd.DataFrame:
    return pd.DataFrame({"alias_key": pd.Series(dtype="string"), "district_code": pd.Series(dtype="string")})


def _empty_admin1_aliases() -> pd.DataFrame:
    return pd.DataFrame({"alias_key": pd.Series(dtype="string"), "admin1_name": pd.Series(dtype="string")})


@dataclass(frozen=True, eq=False)
class Gazetteer:
    """The admin-2 districts of one country, their name keys and their contiguity.

    ``districts``: district_code (str), district_name, admin1_name, population (int64, persons),
    geometry (EPSG:4326); sorted by district_code, RangeIndex.
    ``aliases``: alias_key (normalised), district_code: every key that names a district, the official
    names included. A key may name several districts (same name in two regions); admin1 then decides.
    ``neighbours``: district_code, neighbour_code, distance_km between centroids; queen contiguity,
    symmetric, no self pairs, sorted.
    ``admin1_aliases``: alias_key (normalised), admin1_name (as in ``districts``): every key that names
    a region, the official names included.
    ``district_countries``: the ISO3 code of each district (index district_code) when the gazetteer holds
    several countries (:meth:`combine`; ``country_iso3`` is then their codes joined by "+"); None for one.
    """

    country_iso3: str
    districts: gpd.GeoDataFrame
    aliases: pd.DataFrame
    neighbours: pd.DataFrame
    admin1_aliases: pd.DataFrame = field(default_factory=_empty_admin1_aliases)
    district_countries: pd.Series | None = None

    @property
    def countries(self) -> tuple[str, ...]:
        """The ISO3 codes of the countries whose districts this gazetteer holds, in their order."""
        return tuple(self.country_iso3.split("+"))

    def country_of(self, codes: Iterable[str]) -> pd.Series:
        """The ISO3 code of each district code (string; NA for a code that is not a district here)."""
        codes = pd.Index(codes, dtype="string")
        if self.district_countries is None:
            known = codes.isin(self.districts["district_code"])
            return pd.Series(np.where(known, self.country_iso3, None), index=codes, dtype="string")
        return self.district_countries.reindex(codes).astype("string")

    def __repr__(self) -> str:
        return (
            f"Gazetteer({self.country_iso3!r}: {len(self.districts)} districts, "
            f"{len(self.aliases)} name keys, {len(self.neighbours) // 2} neighbour pairs)"
        )

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, country_iso3: str = "MLI", data_dir: Path | None = None) -> "Gazetteer":
        """Read the gazetteer of ``country_iso3`` from ``<data_dir>/<ISO3>/`` (default: the shipped one).

        Raises :class:`SourceFileError` when a file is missing or malformed, or when a population row
        and a district do not join one to one.
        """
        country_dir = Path(data_dir or DATA_DIR) / country_iso3.upper()
        districts, aliases, admin1_aliases = _read_country(country_dir)
        return cls.from_frames(country_iso3.upper(), districts, aliases, admin1_aliases=admin1_aliases)

    @classmethod
    def from_frames(
        cls,
        country_iso3: str,
        districts: gpd.GeoDataFrame,
        aliases: pd.DataFrame | None = None,
        *,
        admin1_aliases: pd.DataFrame | None = None,
    ) -> "Gazetteer":
        """Build a gazetteer from a districts frame (columns as in :attr:`districts`) and optional aliases.

        ``aliases`` has alias_key (normalised here again) and district_code; ``admin1_aliases`` has
        alias_key and admin1_name. Official names need not be listed. Neighbours are computed.
        """
        clean = _validated_districts(districts)
        return cls(
            country_iso3=country_iso3,
            districts=clean,
            aliases=_alias_table(clean, _empty_aliases() if aliases is None else aliases),
            neighbours=_queen_neighbours(clean, NEIGHBOUR_TOLERANCE_M),
            admin1_aliases=_admin1_alias_table(
                clean, _empty_admin1_aliases() if admin1_aliases is None else admin1_aliases
            ),
        )

    @classmethod
    def combine(cls, gazetteers: Sequence["Gazetteer"]) -> "Gazetteer":
        """One gazetteer of several countries, for a regional run: their districts, aliases and regions together,
        neighbours computed again over all the polygons (so contiguity, and the neighbour and kernel features,
        cross the borders), each district keeping its country (:meth:`country_of`). One gazetteer is returned as
        it is. Raises ValueError when a country comes twice or two countries share a district code."""
        gazetteers = list(gazetteers)
        if len(gazetteers) == 1:
            return gazetteers[0]
        isos = [g.country_iso3 for g in gazetteers]
        if len(set(isos)) < len(isos) or any("+" in iso for iso in isos):
            raise ValueError(f"combine takes distinct single countries, got {isos}")
        owner = pd.concat([pd.Series(iso, index=pd.Index(g.districts["district_code"], dtype="string"))
                           for iso, g in zip(isos, gazetteers, strict=True)])
        shared = owner.index[owner.index.duplicated()].unique().tolist()
        if shared:
            raise ValueError(f"district codes {shared[:10]} belong to several of {isos}: codes must be unique")
        districts = gpd.GeoDataFrame(pd.concat([g.districts for g in gazetteers], ignore_index=True), crs=WGS84)
        combined = cls.from_frames("+".join(isos), districts, pd.concat([g.aliases for g in gazetteers]),
                                   admin1_aliases=pd.concat([g.admin1_aliases for g in gazetteers]))
        return replace(combined, district_countries=owner.sort_index().astype("string"))

    @classmethod
    def synthetic(cls, n_districts: int, *, country_iso3: str = "SIM", seed: int = 0) -> "Gazetteer":
        """A square grid of ``n_districts`` square districts, for simulations and benchmarks.

        ``ceil(sqrt(n))`` columns of 0.2-degree cells (about 22 km) filled row by row from
        (-12 E, 8 N), a Sahel-like box. Codes SIM00001.., names "District 1".., admin1 "Region k" in
        square blocks of about a third of the grid side, populations log-normal (median 150,000).
        """
        if n_districts < 1:
            raise ValueError(f"n_districts must be >= 1, got {n_districts}")
        cell_deg, lon0, lat0 = 0.2, -12.0, 8.0
        n_cols = math.ceil(math.sqrt(n_districts))
        index = np.arange(n_districts)
        row, col = np.divmod(index, n_cols)
        block = max(1, math.ceil(n_cols / 3))
        blocks_per_row = math.ceil(n_cols / block)
        region = (row // block) * blocks_per_row + col // block + 1
        xmin, ymin = lon0 + col * cell_deg, lat0 + row * cell_deg
        population = np.random.default_rng(seed).lognormal(mean=math.log(150_000), sigma=0.8, size=n_districts)
        districts = gpd.GeoDataFrame(
            {
                "district_code": pd.Series([f"{country_iso3}{i:05d}" for i in index + 1], dtype="str"),
                "district_name": pd.Series([f"District {i}" for i in index + 1], dtype="str"),
                "admin1_name": pd.Series([f"Region {r}" for r in region], dtype="str"),
                "population": np.maximum(np.rint(population), 1).astype("int64"),
            },
            geometry=shapely.box(xmin, ymin, xmin + cell_deg, ymin + cell_deg),
            crs=WGS84,
        )
        return cls.from_frames(country_iso3, districts)

    # ------------------------------------------------------------------ queries

    def centroids(self) -> pd.DataFrame:
        """district_code, latitude, longitude (degrees) of a representative point inside each polygon."""
        points = self.districts.geometry.representative_point()
        return pd.DataFrame(
            {
                "district_code": self.districts["district_code"],
                "latitude": points.y.to_numpy(),
                "longitude": points.x.to_numpy(),
            }
        )

    def assign(self, events: pd.DataFrame) -> pd.DataFrame:
        """Place each event in a district.

        ``events`` needs latitude, longitude (WGS84 degrees), admin1 and admin2; ``country_iso3`` is
        used when present. Rules, in order: the polygon containing the point (a point on a shared
        border goes to the lowest district code); else, for events without coordinates or outside
        every polygon, the admin2 name through the aliases (admin1 decides between districts sharing a
        name; events of another country are not matched by name); else unassigned with a reason.
        An event whose country code is neither the gazetteer's own nor any known country
        (features.sources.countries.ISO3_CODES; e.g. ``XYZ``) is never assigned, by point or name:
        unassigned with the reason "country code 'XYZ' is not a known country". (An event of a real
        other country whose point falls inside a polygon keeps the point rule: the source placed it
        there.)

        UCDP events located only to a region, a wider area or the country (``source`` 'ucdp' and
        ``geo_precision`` = where_prec >= 4, when those columns are present; ACLED's codes stop at 3 and
        are not affected) are never placed by their point, which is a region's, an area's or the
        country's centroid: where_prec 5 (a wider area) is placed by its admin2 name when the source gives
        one (UCDP's ' cercle' suffix dropped for the match, as for every UCDP name); 4, 6 and 7 stay unassigned with the reason "located only to the region 'Mopti region'
        (where_prec 4)", "located only to the country 'MLI' (where_prec 6)" or "located only to the
        country or international waters/airspace (where_prec 7)" (see features.sources.ucdp).

        Returns a frame with the index of ``events`` and columns district_code (string, NA when
        unassigned), assignment ("point", "name" or "unassigned") and unassigned_reason (string, NA
        unless unassigned). No row is dropped; ``events`` is not modified.
        """
        missing = [c for c in ("latitude", "longitude", "admin1", "admin2") if c not in events.columns]
        if missing:
            raise ValueError(f"assign needs columns latitude, longitude, admin1, admin2; missing {missing}")
        n = len(events)
        lat = pd.to_numeric(events["latitude"]).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        lon = pd.to_numeric(events["longitude"]).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        has_point = np.isfinite(lat) & np.isfinite(lon)

        coarse = _coarse_precision(events)
        polygon = _containing_polygon(self.districts, lat, lon, has_point & (coarse == 0))
        by_point = polygon >= 0
        codes = pd.Series(pd.NA, index=range(n), dtype="string")
        codes[by_point] = self.districts["district_code"].to_numpy()[polygon[by_point]]

        admin2 = events["admin2"].astype("string").reset_index(drop=True)
        admin1 = events["admin1"].astype("string").reset_index(drop=True)
        if "country_iso3" in events.columns:
            country = events["country_iso3"].astype("string").str.upper().reset_index(drop=True)
            foreign = (country.notna() & ~country.isin(self.countries)).to_numpy(dtype=bool)
        else:
            country = pd.Series(pd.NA, index=range(n), dtype="string")
            foreign = np.zeros(n, dtype=bool)
        no_country = foreign & ~is_known_country_code(country).to_numpy(dtype=bool)
        by_point &= ~no_country
        codes[no_country] = pd.NA

        fallback = np.flatnonzero(~by_point & ~foreign & ((coarse == 0) | (coarse == _WIDER_AREA)))
        name_codes, outcome = _match_names(
            _without_ucdp_suffix(admin2, events).iloc[fallback], admin1.iloc[fallback], self.aliases, self.admin1_aliases, self.districts
        )
        by_name = np.zeros(n, dtype=bool)
        by_name[fallback] = (outcome == _MATCHED).to_numpy()
        codes[by_name] = name_codes[outcome == _MATCHED].to_numpy()

        assignment = np.where(by_point, ASSIGNMENT_POINT, np.where(by_name, ASSIGNMENT_NAME, ASSIGNMENT_UNASSIGNED))
        unassigned = np.flatnonzero(~by_point & ~by_name)
        outcomes = pd.Series(_NO_NAME, index=range(n), dtype="string")
        outcomes[fallback] = outcome.to_numpy()
        reasons = pd.Series(pd.NA, index=range(n), dtype="string")
        reasons[unassigned] = _unassigned_reasons(
            lat[unassigned],
            lon[unassigned],
            has_point[unassigned],
            admin2.iloc[unassigned],
            admin1.iloc[unassigned],
            country.iloc[unassigned],
            foreign[unassigned],
            outcomes.iloc[unassigned],
            self.country_iso3,
        ).to_numpy()
        located = np.flatnonzero((coarse > 0) & ~by_name)
        reasons[located] = _coarse_reasons(
            coarse[located], admin1.iloc[located], admin2.iloc[located], country.iloc[located].fillna(self.country_iso3),
        ).to_numpy()
        reasons[no_country] = "country code '" + country[no_country] + "' is not a known country"

        return pd.DataFrame(
            {
                "district_code": codes.array,
                "assignment": pd.array(assignment, dtype="string"),
                "unassigned_reason": reasons.array,
            },
            index=events.index,
        )


# ---------------------------------------------------------------------- pure helpers


def _validated_districts(districts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Districts with exactly DISTRICT_COLUMNS, in EPSG:4326, sorted by code, RangeIndex (a new frame)."""
    missing = [c for c in DISTRICT_COLUMNS if c not in districts.columns]
    if missing:
        raise ValueError(f"districts frame lacks columns {missing}")
    if districts.crs is None:
        raise ValueError("districts frame has no CRS")
    out = districts[DISTRICT_COLUMNS].to_crs(WGS84)
    for column in ("district_code", "district_name", "admin1_name"):
        if out[column].isna().any():
            raise ValueError(f"districts: {column} is null for {int(out[column].isna().sum())} district(s)")
        out[column] = out[column].astype("str")
    duplicated = out["district_code"][out["district_code"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"districts: duplicate district_code {duplicated}")
    population = pd.to_numeric(out["population"])
    if population.isna().any() or (population <= 0).any():
        bad = out.loc[population.isna() | (population <= 0), "district_code"].tolist()
        raise ValueError(f"districts: population missing or not positive for {bad}")
    out["population"] = population.astype("int64")
    if out.geometry.isna().any() or out.geometry.is_empty.any():
        raise ValueError("districts: some geometries are missing or empty")
    invalid = ~out.geometry.is_valid
    if invalid.any():
        out.loc[invalid, "geometry"] = out.geometry[invalid].make_valid(method="structure", keep_collapsed=False)
    return out.sort_values("district_code", kind="stable").reset_index(drop=True)


def _alias_table(districts: gpd.GeoDataFrame, aliases: pd.DataFrame) -> pd.DataFrame:
    """Official names plus aliases as (alias_key, district_code), unique pairs, sorted."""
    unknown = sorted(set(aliases["district_code"].astype("str")) - set(districts["district_code"]))
    if unknown:
        raise ValueError(f"aliases point to unknown district codes {unknown}")
    official = pd.DataFrame(
        {"alias_key": normalize_name(districts["district_name"]), "district_code": districts["district_code"]}
    )
    extra = pd.DataFrame(
        {"alias_key": normalize_name(aliases["alias_key"]), "district_code": aliases["district_code"]}
    )
    return _key_table(pd.concat([official, extra], ignore_index=True), "district_code")


def _admin1_alias_table(districts: gpd.GeoDataFrame, admin1_aliases: pd.DataFrame) -> pd.DataFrame:
    """Official admin1 names plus admin1 aliases as (alias_key, admin1_name), unique pairs, sorted."""
    unknown = sorted(set(admin1_aliases["admin1_name"].astype("str")) - set(districts["admin1_name"]))
    if unknown:
        raise ValueError(f"admin1 aliases point to unknown admin1 names {unknown}")
    names = pd.Series(districts["admin1_name"].unique(), dtype="str")
    official = pd.DataFrame({"alias_key": normalize_name(names), "admin1_name": names})
    extra = pd.DataFrame(
        {"alias_key": normalize_name(admin1_aliases["alias_key"]), "admin1_name": admin1_aliases["admin1_name"]}
    )
    return _key_table(pd.concat([official, extra], ignore_index=True), "admin1_name")


def _key_table(pairs: pd.DataFrame, target: str) -> pd.DataFrame:
    return (
        pairs.dropna()
        .astype({"alias_key": "string", target: "string"})
        .drop_duplicates()
        .sort_values(["alias_key", target])
        .reset_index(drop=True)
    )


def metric_crs(districts: gpd.GeoDataFrame) -> str:
    """Lambert azimuthal equal-area projection (metres) centred on the districts' bounding box."""
    xmin, ymin, xmax, ymax = districts.to_crs(WGS84).total_bounds
    return f"+proj=laea +lat_0={(ymin + ymax) / 2:.6f} +lon_0={(xmin + xmax) / 2:.6f} +datum=WGS84 +units=m +no_defs"


def _queen_neighbours(districts: gpd.GeoDataFrame, tolerance_m: float) -> pd.DataFrame:
    """Pairs of districts whose polygons touch or overlap (within ``tolerance_m`` metres), both ways."""
    projected = districts.geometry.to_crs(metric_crs(districts))
    left, right = projected.sindex.query(projected, predicate="dwithin", distance=tolerance_m)
    keep = left != right
    left, right = left[keep], right[keep]
    centroids = projected.centroid
    dx = centroids.x.to_numpy()[left] - centroids.x.to_numpy()[right]
    dy = centroids.y.to_numpy()[left] - centroids.y.to_numpy()[right]
    code = districts["district_code"].to_numpy()
    pairs = pd.DataFrame(
        {
            "district_code": pd.array(code[left], dtype="str"),
            "neighbour_code": pd.array(code[right], dtype="str"),
            "distance_km": np.hypot(dx, dy) / 1000.0,
        }
    )
    return pairs.sort_values(["district_code", "neighbour_code"]).reset_index(drop=True)


def _containing_polygon(
    districts: gpd.GeoDataFrame, lat: np.ndarray, lon: np.ndarray, has_point: np.ndarray
) -> np.ndarray:
    """Position of the district containing each point (lowest position on shared borders), -1 if none."""
    polygon = np.full(len(lat), -1, dtype=np.int64)
    rows = np.flatnonzero(has_point)
    if rows.size == 0:
        return polygon
    # Events repeat a few thousand geocoded places: test each distinct (lon, lat) once. Hashing the
    # pair as one complex number lets pandas factorize it in a single pass.
    place, unique_xy = pd.factorize(lon[rows] + 1j * lat[rows])
    points = gpd.points_from_xy(unique_xy.real, unique_xy.imag, crs=WGS84)
    point_pos, district_pos = districts.sindex.query(points, predicate="intersects")
    # Districts are sorted by code, so the lowest position is the lowest code: a deterministic tie rule.
    none = np.iinfo(np.int64).max
    best = np.full(len(points), none, dtype=np.int64)
    np.minimum.at(best, point_pos, district_pos)
    polygon[rows] = np.where(best == none, -1, best)[place]
    return polygon


def _match_names(
    admin2: pd.Series,
    admin1: pd.Series,
    aliases: pd.DataFrame,
    admin1_aliases: pd.DataFrame,
    districts: gpd.GeoDataFrame,
) -> tuple[pd.Series, pd.Series]:
    """District code and outcome (_MATCHED, _NO_NAME, _UNKNOWN, _AMBIGUOUS) of each admin2/admin1 pair.

    Both returned Series are positional (RangeIndex over the inputs). An admin2 key naming one district
    matches it; one naming several matches the only one whose region the admin1 name designates.
    """
    n = len(admin2)
    query = pd.DataFrame(
        {
            "row": np.arange(n),
            "alias_key": normalize_name(admin2).array,
            "admin1_key": normalize_name(admin1).array,
        }
    )
    candidates = query.dropna(subset=["alias_key"]).merge(aliases, on="alias_key", how="inner")
    n_candidates = candidates.groupby("row").size().reindex(range(n), fill_value=0).to_numpy()

    district_admin1 = districts[["district_code", "admin1_name"]].astype("string")
    region_of_event = admin1_aliases.rename(columns={"alias_key": "admin1_key", "admin1_name": "event_admin1"})
    several = candidates[n_candidates[candidates["row"].to_numpy()] > 1]
    decided = (
        several.merge(district_admin1, on="district_code")
        .merge(region_of_event, on="admin1_key")
        .loc[lambda frame: frame["admin1_name"] == frame["event_admin1"]]
        .drop_duplicates(["row", "district_code"])
    )
    n_decided = decided.groupby("row").size().reindex(range(n), fill_value=0).to_numpy()

    codes = pd.Series(pd.NA, index=range(n), dtype="string")
    single = candidates[n_candidates[candidates["row"].to_numpy()] == 1]
    codes[single["row"].to_numpy()] = single["district_code"].to_numpy()
    unique_decision = decided[n_decided[decided["row"].to_numpy()] == 1]
    codes[unique_decision["row"].to_numpy()] = unique_decision["district_code"].to_numpy()

    outcome = np.select(
        [query["alias_key"].isna().to_numpy(), n_candidates == 0, codes.notna().to_numpy()],
        [_NO_NAME, _UNKNOWN, _MATCHED],
        default=_AMBIGUOUS,
    )
    return codes, pd.Series(outcome, dtype="string")


#: UCDP where_prec of an event located only to a wider area (placed by admin2 name, never by point).
_WIDER_AREA = 5


def _without_ucdp_suffix(admin2: pd.Series, events: pd.DataFrame) -> pd.Series:
    """admin2 for the name match: UCDP writes 'Niono cercle', the gazetteer knows 'Niono' (UCDP rows only)."""
    if "source" not in events.columns:
        return admin2
    ucdp = (events["source"].astype("string") == "ucdp").fillna(False).to_numpy(dtype=bool)
    return admin2.mask(ucdp, admin2.str.replace(r"(?i)\s+cercle$", "", regex=True))


def _coarse_precision(events: pd.DataFrame) -> np.ndarray:
    """UCDP's where_prec for UCDP events located only to a region, an area or the country (>= 4), else 0."""
    if "geo_precision" not in events.columns or "source" not in events.columns:
        return np.zeros(len(events), dtype=np.int64)
    precision = pd.to_numeric(events["geo_precision"]).astype("Float64").fillna(0).to_numpy(dtype=float)
    ucdp = (events["source"].astype("string") == "ucdp").fillna(False).to_numpy(dtype=bool)
    return np.where(ucdp & (precision >= 4), precision, 0).astype(np.int64)


def _coarse_reasons(precision: np.ndarray, admin1: pd.Series, admin2: pd.Series, country: pd.Series) -> pd.Series:
    """Why each UCDP event located only to a region, an area or the country has no district."""
    admin1 = admin1.reset_index(drop=True)
    admin2 = admin2.reset_index(drop=True)
    code = pd.Series(precision).astype("string")
    in_region = pd.Series(np.where(admin1.notna(), " in the region '" + admin1.fillna("") + "'", ""), dtype="string")
    in_region = in_region.mask(admin1.isna(), " of the country")
    wider = pd.Series(
        np.where(admin2.isna(), "located only to a wider area" + in_region + " (where_prec 5, no adm_2)",
                 "located only to a wider area (where_prec 5) and admin2 '" + admin2.fillna("")
                 + "' matches no single district"),
        dtype="string",
    )
    reasons = np.select(
        [precision == 4, precision == _WIDER_AREA, precision == 6],
        [
            np.where(admin1.notna(), "located only to the region '" + admin1.fillna("") + "' (where_prec 4)",
                     "located only to a region not named (where_prec 4)"),
            wider.to_numpy(),
            "located only to the country '" + country.reset_index(drop=True).fillna("") + "' (where_prec 6)",
        ],
        default="located only to the country or international waters/airspace (where_prec " + code + ")",
    )
    return pd.Series(reasons, dtype="string")


def _unassigned_reasons(
    lat: np.ndarray,
    lon: np.ndarray,
    has_point: np.ndarray,
    admin2: pd.Series,
    admin1: pd.Series,
    country: pd.Series,
    foreign: np.ndarray,
    outcome: pd.Series,
    country_iso3: str,
) -> pd.Series:
    """Readable reason for each unassigned event, e.g. "no coordinates and admin2 'Xyz' not in the gazetteer"."""
    lat_text = pd.Series(np.round(lat, 4)).astype("string")
    lon_text = pd.Series(np.round(lon, 4)).astype("string")
    where = pd.Series(
        np.where(has_point, "point (" + lat_text + ", " + lon_text + ") outside every district", "no coordinates"),
        dtype="string",
    )
    admin2 = admin2.reset_index(drop=True).fillna("")
    admin1 = admin1.reset_index(drop=True).fillna("")
    outcome = outcome.reset_index(drop=True)
    by_name = pd.Series(
        np.select(
            [
                foreign,
                (outcome == _NO_NAME).to_numpy(),
                (outcome == _UNKNOWN).to_numpy(),
            ],
            [
                "country '" + country.reset_index(drop=True).fillna("") + f"' is not {country_iso3} (ingest it with "
                "--country " + country.reset_index(drop=True).fillna("?") + ")",
                "no admin2 name",
                "admin2 '" + admin2 + "' not in the gazetteer",
            ],
            default="admin2 '" + admin2 + "' names several districts and admin1 '" + admin1 + "' does not pick one",
        ),
        dtype="string",
    )
    return where + " and " + by_name


# ---------------------------------------------------------------------- writing a country folder


def write_country_folder(gazetteer: "Gazetteer", root: Path, *, name: str) -> Path:
    """Write ``gazetteer``'s districts as the country folder ``<root>/<ISO3>/`` that :meth:`Gazetteer.load` reads
    back (``gazetteer.toml``, boundaries as GeoJSON, the population table; no registries): how a synthetic
    country (:meth:`Gazetteer.synthetic`) is run end to end with ``VIGIE_COUNTRIES_DIR=<root>``. ``name``: the
    country's name as its events write it. Returns the folder."""
    iso3 = gazetteer.country_iso3
    folder = Path(root) / iso3
    folder.mkdir(parents=True, exist_ok=True)
    d = gazetteer.districts
    boundaries, population = f"{iso3.lower()}_adm2.geojson", f"{iso3.lower()}_adm2_population.csv"
    d[["district_code", "district_name", "admin1_name", "geometry"]].to_file(folder / boundaries, driver="GeoJSON")
    d[["district_code", "population"]].to_csv(folder / population, index=False)
    (folder / CONFIG_FILE).write_text(
        f'# Written by Vigie (features.gazetteer.write_country_folder): {len(d)} districts.\n'
        f'country_iso3 = "{iso3}"\n\n[country]\nname = "{name}"\nactor_names = ["{name}"]\n\n'
        f'[boundaries]\nfile = "{boundaries}"\ncode_property = "district_code"\nname_property = "district_name"\n'
        f'admin1_property = "admin1_name"\n\n[population]\nfile = "{population}"\nvalue_column = "population"\n'
        f'join = "code"\ncode_column = "district_code"\n')
    return folder


# ---------------------------------------------------------------------- reading a country folder


def _read_country(country_dir: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
    """Districts (with population), admin2 aliases and admin1 aliases of one country folder."""
    config_path = country_dir / CONFIG_FILE
    if not config_path.is_file():
        raise SourceFileError(str(config_path), None, None, "no gazetteer config file for this country")
    with config_path.open("rb") as handle:
        config = tomllib.load(handle)

    boundaries = _section(config, "boundaries", config_path)
    population = _section(config, "population", config_path) if "population" in config else None
    alias_files = config.get("aliases", {})

    districts = _read_boundaries(country_dir, boundaries, config_path)
    admin2_aliases = (
        _read_alias_file(country_dir / alias_files["admin2_file"], "district_code")
        if "admin2_file" in alias_files
        else _empty_aliases()
    )
    admin1_aliases = (
        _read_alias_file(country_dir / alias_files["admin1_file"], "admin1_name")
        if "admin1_file" in alias_files
        else _empty_admin1_aliases()
    )
    _check_alias_targets(admin2_aliases, districts["district_code"], country_dir / alias_files.get("admin2_file", ""))
    _check_alias_targets(admin1_aliases, districts["admin1_name"], country_dir / alias_files.get("admin1_file", ""))

    aliases = _alias_table(districts, admin2_aliases)
    admin1_table = _admin1_alias_table(districts, admin1_aliases)
    if population is None:
        log.warning("%s has no [population] section: every district counts 1 person; only the simulator reads "
                    "population (its background rates then ignore it)", config_path)
        return districts, admin2_aliases, admin1_aliases
    counts = _read_population(country_dir, population, config_path, districts, aliases, admin1_table)
    return districts.assign(population=counts), admin2_aliases, admin1_aliases


def _section(config: dict, name: str, config_path: Path) -> dict:
    if not isinstance(config.get(name), dict):
        raise SourceFileError(str(config_path), None, name, f"missing [{name}] section")
    return config[name]


def _setting(section: dict, key: str, config_path: Path, section_name: str) -> str:
    if key not in section:
        raise SourceFileError(str(config_path), None, f"{section_name}.{key}", "missing setting")
    return section[key]


def _read_boundaries(country_dir: Path, section: dict, config_path: Path) -> gpd.GeoDataFrame:
    """District polygons with code, name, admin1 name and a uniform population of 1 (no population table given)."""
    path = country_dir / _setting(section, "file", config_path, "boundaries")
    if not path.is_file():
        raise SourceFileError(str(path), None, None, "boundary file not found")
    raw = gpd.read_file(path)
    if raw.crs is None:
        raise SourceFileError(str(path), None, None, "boundary file has no coordinate reference system")
    properties = {
        "district_code": _setting(section, "code_property", config_path, "boundaries"),
        "district_name": _setting(section, "name_property", config_path, "boundaries"),
        "admin1_name": _setting(section, "admin1_property", config_path, "boundaries"),
    }
    for column, prop in properties.items():
        if prop not in raw.columns:
            raise SourceFileError(str(path), None, prop, f"property for {column} not found")
        empty = raw[prop].isna()
        if empty.any():
            raise SourceFileError(str(path), None, prop, f"empty in feature(s) {np.flatnonzero(empty).tolist()}")
    codes = raw[properties["district_code"]].astype("str")
    if codes.duplicated().any():
        raise SourceFileError(
            str(path), None, properties["district_code"], f"duplicate codes {codes[codes.duplicated()].tolist()}"
        )
    frame = gpd.GeoDataFrame(
        {column: raw[prop].astype("str") for column, prop in properties.items()} | {"population": 1},
        geometry=raw.geometry,
        crs=raw.crs,
    )
    return _validated_districts(frame)


def _read_csv(path: Path, columns: list[str], na_values: list[str]) -> pd.DataFrame:
    """A comma-separated table of a country folder, all cells strings, holding at least ``columns``.

    Raises SourceFileError on row 1 when the header is one cell holding another separator (';', a tab,
    '|'), before the "missing column" error such a header would otherwise give.
    """
    hint = delimiter_hint(read_header(path))
    if hint is not None:
        raise SourceFileError(str(path), 1, None, f"{hint}; save it comma-separated, with columns {', '.join(columns)}")
    raw = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=na_values)
    for column in columns:
        if column not in raw.columns:
            raise SourceFileError(str(path), None, column, "missing column")
    return raw


def _read_alias_file(path: Path, target: str) -> pd.DataFrame:
    """Alias CSV (alias, <target>, note) as (alias_key, <target>); keys normalised."""
    if not path.is_file():
        raise SourceFileError(str(path), None, None, "alias file not found")
    raw = _read_csv(path, ["alias", target], [""])
    keys = normalize_name(raw["alias"])
    for column, values in (("alias", keys), (target, raw[target])):
        if values.isna().any():
            raise SourceFileError(str(path), int(np.flatnonzero(values.isna())[0]) + 2, column, "empty value")
    return pd.DataFrame({"alias_key": keys, target: raw[target].str.strip()})


def _check_alias_targets(aliases: pd.DataFrame, valid: pd.Series, path: Path) -> None:
    target = aliases.columns[1]
    bad = ~aliases[target].isin(set(valid))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SourceFileError(
            str(path), row + 2, target, f"'{aliases[target].iloc[row]}' is not a {target} of the boundaries"
        )


def _read_population(
    country_dir: Path,
    section: dict,
    config_path: Path,
    districts: gpd.GeoDataFrame,
    aliases: pd.DataFrame,
    admin1_aliases: pd.DataFrame,
) -> np.ndarray:
    """Population (persons, int64) of each district, in the order of ``districts``; every one must join."""
    path = country_dir / _setting(section, "file", config_path, "population")
    if not path.is_file():
        raise SourceFileError(str(path), None, None, "population file not found")
    value_column = _setting(section, "value_column", config_path, "population")
    join = section.get("join", "name")
    if join not in ("name", "code"):
        raise SourceFileError(str(config_path), None, "population.join", f"'{join}' is neither 'name' nor 'code'")
    key_column = _setting(section, "name_column" if join == "name" else "code_column", config_path, "population")
    admin1_column = section.get("admin1_column")
    columns = [value_column, key_column, *([admin1_column] if admin1_column else [])]
    raw = _read_csv(path, columns, ["", *section.get("na_values", [])])

    values = pd.to_numeric(raw[value_column].str.replace(r"[\s,]", "", regex=True), errors="coerce")
    bad = values.isna() | (values <= 0) | (values % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy(dtype=bool, na_value=True))[0])
        problem = f"'{raw[value_column].iloc[row]}' is not a positive count"
        raise SourceFileError(str(path), row + 2, value_column, problem)

    if join == "name":
        admin1 = raw[admin1_column] if admin1_column else pd.Series(pd.NA, index=raw.index, dtype="string")
        codes, outcome = _match_names(raw[key_column], admin1, aliases, admin1_aliases, districts)
    else:
        codes = raw[key_column].str.strip().reset_index(drop=True)
        known = codes.isin(set(districts["district_code"])).to_numpy()
        outcome = pd.Series(np.where(known, _MATCHED, _UNKNOWN), dtype="string")

    _check_one_row_per_district(path, raw[key_column], codes, outcome, join, len(districts))
    by_code = pd.Series(values.to_numpy(), index=codes.to_numpy())
    counts = by_code.reindex(districts["district_code"].to_numpy())
    if counts.isna().any():
        missing = districts.loc[counts.isna().to_numpy(), "district_name"].tolist()
        raise SourceFileError(str(path), None, key_column, f"no population row for district(s) {missing}")
    return counts.to_numpy().astype("int64")


def _check_one_row_per_district(
    path: Path, keys: pd.Series, codes: pd.Series, outcome: pd.Series, join: str, n_districts: int
) -> None:
    """Raise SourceFileError at the first population row that joins no single district or shares its district.

    ``keys`` are the key column of the table, ``codes`` and ``outcome`` what each row joined (positional).
    A table with more rows than there are districts is told to be summed to one row per district first.
    """
    unmatched = (outcome != _MATCHED).to_numpy()
    duplicated = codes.duplicated(keep=False).to_numpy(dtype=bool) & ~unmatched
    offending = np.flatnonzero(unmatched | duplicated)
    if len(offending) and len(keys) > n_districts:
        raise _finer_than_districts(path, keys, codes, outcome, int(offending[0]), join, n_districts)
    if unmatched.any():
        row = int(np.flatnonzero(unmatched)[0])
        raise SourceFileError(str(path), row + 2, str(keys.name), _joins_no_district(keys, outcome, row))
    if duplicated.any():
        rows = (np.flatnonzero(duplicated) + 2).tolist()
        raise SourceFileError(str(path), rows[0], str(keys.name), f"rows {rows} join the same district")


def _joins_no_district(keys: pd.Series, outcome: pd.Series, row: int) -> str:
    return f"'{keys.iloc[row]}' joins no single district ({outcome.iloc[row]})"


def _finer_than_districts(
    path: Path, keys: pd.Series, codes: pd.Series, outcome: pd.Series, row: int, join: str, n_districts: int
) -> SourceFileError:
    """The error for a population table of more rows than districts whose row ``row`` does not join one to one."""
    if outcome.iloc[row] != _MATCHED:
        detail = _joins_no_district(keys, outcome, row)
    else:
        same = (codes == codes.iloc[row]).to_numpy(dtype=bool, na_value=False)
        detail = f"rows {(np.flatnonzero(same) + 2).tolist()} join the same district"
    key = "name" if join == "name" else "code"
    problem = (
        f"{detail}; the table has {len(keys)} rows for {n_districts} districts: it looks finer than the districts "
        "(communes or other sub-district units?). Sum it to one row per district first, each row keyed by the "
        f"district's {key} in column '{keys.name}', as {CONFIG_FILE} [population] says (join = '{join}')"
    )
    return SourceFileError(str(path), row + 2, str(keys.name), problem)
