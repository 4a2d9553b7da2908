"""The files door: every file Vigie publishes besides the score tables.

* each week's Parquet, CSV and GeoJSON and its HTML report, under ``<out_dir>/<country>/<week_start>/``;
* the skill table the weekly report shows (``<out_dir>/<country>/skill_latest.csv``), written only by the
  weekly selection backtest;
* the tables of ``vigie backtest``, in their own folder ``<out_dir>/<country>/backtests/<start>_<end>/``.

A weekly run writes its week's files into a staging folder (:func:`staging_root`) before the publish
commits and moves them into place right after it (:func:`commit_staged`); a run that fails before the
commit discards them, so the published folders only ever hold files of published weeks.

The content is built by pure functions (:func:`scores_geojson`, :func:`export_frame`); files are written
through :func:`write_atomically`: every file is first written
to a hidden temporary file in the destination folder, flushed to disk, and only then renamed over the
published name with ``os.replace``. A failed or killed run therefore never leaves a half-written export, and
a re-run replaces the previous files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from models.slots import HAZARD_HORIZON
from models.withdrawals import STUDY_TABLES, WithdrawalEvidence
from publish.schema import ARROW_TYPES, SCORE_COLUMNS, validate_scores

#: Coverage-simplification tolerance of the published GeoJSON, in degrees (about 1 km).
GEOJSON_TOLERANCE_DEG = 0.01
#: Decimals kept in GeoJSON coordinates (1e-5 degree is about 1 m).
GEOJSON_DECIMALS = 5

EXPORT_FILES: dict[str, str] = {"parquet": "scores.parquet", "csv": "scores.csv", "geojson": "districts.geojson"}
REPORT_FILE = "report.html"
#: What the last weekly selection backtest leaves for the reports of the weeks until the next one (file names):
#: the count models' CRPS skill, the headline probability's scores and the 1-week walk-forward forecasts.
SELECTION_FILES: dict[str, str] = {"skill": "skill_latest.csv", "headline": "headline_latest.csv",
                                   "hindcast": "hindcast_latest.parquet"}
STAGING_DIR = ".staging"

_DATE_COLUMNS = tuple(name for name, (kind, _) in SCORE_COLUMNS.items() if kind.startswith("DATE"))
_TIMESTAMP_COLUMNS = tuple(name for name, (kind, _) in SCORE_COLUMNS.items() if kind.startswith("TIMESTAMP"))
_TEMP_PREFIX = ".vigie-tmp-"


# --------------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------------


def export_frame(scores: pd.DataFrame) -> pd.DataFrame:
    """The score rows of one (country, week) publish, validated, in SCORE_COLUMNS order, sorted for reading.

    Rows are ordered by horizon, rank, then district code. Raises ``ScoreValidationError`` (from the score
    store) when the frame is not one valid publish.
    """
    frame = validate_scores(scores)
    return frame.sort_values(["horizon_weeks", "rank", "district_code"], kind="stable").reset_index(drop=True)


def publication_key(scores: pd.DataFrame) -> tuple[str, date]:
    """(country_iso3, week_start) of a frame holding one publish; ValueError if it holds none or several."""
    if len(scores) == 0:
        raise ValueError("the score frame has no rows")
    countries = pd.Series(scores["country_iso3"]).dropna().unique()
    weeks = pd.to_datetime(pd.Series(scores["week_start"])).dropna().unique()
    if len(countries) != 1 or len(weeks) != 1:
        raise ValueError(
            f"expected the rows of one country and week, found {len(countries)} countries and {len(weeks)} weeks"
        )
    return str(countries[0]), pd.Timestamp(weeks[0]).date()


def week_dir(out_dir: Path, country: str, week_start: date | pd.Timestamp | str) -> Path:
    """``<out_dir>/<country>/<YYYY-MM-DD>``: the folder of one week's exports and report."""
    return Path(out_dir) / str(country) / pd.Timestamp(week_start).date().isoformat()


def iso_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a score frame with dates as 'YYYY-MM-DD' and timestamps as ISO 8601 UTC text (nulls stay null)."""
    out = frame.copy()
    for name in _DATE_COLUMNS:
        if name in out.columns:
            out[name] = pd.to_datetime(out[name]).dt.strftime("%Y-%m-%d").astype("string")
    for name in _TIMESTAMP_COLUMNS:
        if name in out.columns:
            stamps = pd.to_datetime(out[name], utc=True)
            out[name] = stamps.map(lambda t: t.isoformat(), na_action="ignore").astype("string")
    return out


def simplified_geometries(geometry: gpd.GeoSeries | np.ndarray, tolerance: float) -> np.ndarray:
    """Geometries simplified together as a coverage, so neighbouring districts keep a shared border.

    Falls back to per-polygon, topology-preserving simplification when the polygons are not a valid
    coverage (overlaps or gaps) or the coverage simplification yields an invalid or empty polygon.
    """
    geoms = np.asarray(geometry, dtype=object)
    if tolerance <= 0 or len(geoms) == 0:
        return geoms
    if shapely.coverage_is_valid(geoms):
        simplified = shapely.coverage_simplify(geoms, tolerance)
        if shapely.is_valid(simplified).all() and not shapely.is_empty(simplified).any():
            return simplified
    return shapely.simplify(geoms, tolerance, preserve_topology=True)


def scores_geojson(scores: pd.DataFrame, districts: gpd.GeoDataFrame, horizon: int = HAZARD_HORIZON) -> dict:
    """A GeoJSON FeatureCollection of every district with its scores at one horizon.

    One feature per district of ``districts`` (in its order), ``id`` = district_code; properties are the
    SCORE_COLUMNS of that district's row at ``horizon`` (dates as ISO text, missing values as null; a
    district without a score row keeps its code, name and region and has null scores). Geometry is in
    WGS84, simplified as a coverage with :data:`GEOJSON_TOLERANCE_DEG` and rounded to
    :data:`GEOJSON_DECIMALS` decimals. Raises ValueError when ``scores`` has no row at ``horizon``.
    """
    frame = export_frame(scores)
    rows = frame[frame["horizon_weeks"] == horizon]
    if rows.empty:
        available = sorted(int(h) for h in frame["horizon_weeks"].unique())
        raise ValueError(f"no score rows at horizon {horizon} (horizons present: {available})")
    country, week = publication_key(frame)
    places = districts.to_crs("EPSG:4326") if districts.crs is not None else districts
    keys = pd.DataFrame({"district_code": places["district_code"].astype("string").to_numpy()})
    merged = keys.merge(rows, on="district_code", how="left", validate="one_to_one")
    for name in ("district_name", "admin1_name"):
        merged[name] = merged[name].fillna(pd.Series(places[name].astype("string").to_numpy()))
    properties = json.loads(iso_text_columns(merged[list(SCORE_COLUMNS)]).to_json(orient="records"))

    geoms = simplified_geometries(places.geometry.to_numpy(), GEOJSON_TOLERANCE_DEG)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, GEOJSON_DECIMALS))
    geometries = [json.loads(text) for text in shapely.to_geojson(geoms)]
    features = [
        {"type": "Feature", "id": code, "properties": props, "geometry": geom}
        for code, props, geom in zip(keys["district_code"].tolist(), properties, geometries)
    ]
    return {
        "type": "FeatureCollection",
        "country_iso3": country,
        "week_start": week.isoformat(),
        "horizon_weeks": int(horizon),
        "features": features,
    }


# --------------------------------------------------------------------------------------------------
# Serialisers: write one object to an open binary file
# --------------------------------------------------------------------------------------------------




def parquet_schema() -> pa.Schema:
    """Arrow schema of ``scores.parquet``: SCORE_COLUMNS in order, NOT NULL columns non-nullable."""
    fields = []
    for name, (kind, _) in SCORE_COLUMNS.items():
        arrow_type = ARROW_TYPES[kind.removesuffix(" NOT NULL")]
        fields.append(pa.field(name, arrow_type, nullable=not kind.endswith("NOT NULL")))
    return pa.schema(fields)


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """An export frame as Arrow with :func:`parquet_schema` (DATE columns as date32, not timestamps)."""
    schema = parquet_schema()
    arrays = []
    for target in schema:
        column = frame[target.name]
        if target.name in _DATE_COLUMNS:
            arrays.append(pa.array(pd.to_datetime(column).dt.date, type=pa.date32(), from_pandas=True))
        else:
            arrays.append(pa.array(column, from_pandas=True).cast(target.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_parquet(frame: pd.DataFrame, handle: BinaryIO) -> None:
    pq.write_table(_arrow_table(frame), handle)


#: A text cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells that a spreadsheet would read as a formula (starting with = + - @, tab or CR)
    start with an apostrophe instead, as OWASP advises; numbers and nulls are unchanged."""
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_string_dtype(out[name]) or out[name].dtype == object:
            text = out[name].astype("string")
            risky = text.str.startswith(FORMULA_STARTS).fillna(False).to_numpy(bool)
            out[name] = text.mask(risky, "'" + text)
    return out


def _write_csv(frame: pd.DataFrame, handle: BinaryIO) -> None:
    """The CSV export: ISO dates, and formula-like text made safe for spreadsheets (see :func:`spreadsheet_safe`)."""
    handle.write(spreadsheet_safe(iso_text_columns(frame)).to_csv(index=False, lineterminator="\n").encode("utf-8"))


def _write_geojson(collection: dict, handle: BinaryIO) -> None:
    handle.write(json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


# --------------------------------------------------------------------------------------------------
# File writing
# --------------------------------------------------------------------------------------------------


def _write_temp(target: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``target``'s new content to a hidden temporary file beside it, synced to disk; return its path."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f"{_TEMP_PREFIX}{target.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_atomically(files: Mapping[Path, Callable[[BinaryIO], None]]) -> list[Path]:
    """Write several files so that each is either its previous version or its complete new one.

    Every file's content is staged first (``write(handle)`` into a temporary file in the same folder); only
    when all of them are written are they renamed over their targets with ``os.replace``. If any writer
    fails, no target is touched and the temporary files are removed. Folders are created as needed. Each
    rename is atomic; the files are renamed one after the other, so only a crash between two renames (a
    window of microseconds) could leave a mix of old and new complete files.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, write in files.items():
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_write_temp(target, write), target))
        for temp, target in staged:
            os.replace(temp, target)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
    return [target for _, target in staged]


def write_week_exports(scores: pd.DataFrame, districts: gpd.GeoDataFrame, out_dir: Path) -> dict[str, Path]:
    """Write one publish's ``scores.parquet``, ``scores.csv`` (all horizons) and ``districts.geojson``.

    The GeoJSON carries the 4-week horizon (or, if the publish has none, its shortest horizon). Files go to
    ``<out_dir>/<country>/<week_start>/`` and are replaced atomically (see :func:`write_atomically`).
    Returns {"parquet": path, "csv": path, "geojson": path}.
    """
    frame = export_frame(scores)
    country, week = publication_key(frame)
    horizons = set(frame["horizon_weeks"].astype(int))
    collection = scores_geojson(frame, districts, horizon=HAZARD_HORIZON if HAZARD_HORIZON in horizons else min(horizons))
    folder = week_dir(out_dir, country, week)
    paths = {kind: folder / name for kind, name in EXPORT_FILES.items()}
    write_atomically({
        paths["parquet"]: lambda handle: _write_parquet(frame, handle),
        paths["csv"]: lambda handle: _write_csv(frame, handle),
        paths["geojson"]: lambda handle: _write_geojson(collection, handle),
    })
    return paths


def write_report(html: str, out_dir: Path, country: str, week_start: date | datetime | pd.Timestamp | str) -> Path:
    """Write ``html`` atomically to ``<out_dir>/<country>/<week_start>/report.html`` and return the path."""
    path = week_dir(out_dir, country, week_start) / REPORT_FILE
    data = html.encode("utf-8")
    write_atomically({path: lambda handle: handle.write(data)})
    return path


# --------------------------------------------------------------------------------------------------
# Staging: a week's files are written before its publish commits and moved into place right after
# --------------------------------------------------------------------------------------------------


def staging_root(out_dir: Path, run_id: str) -> Path:
    """``<out_dir>/.staging/<run_id>``: where one run writes its week's files before the publish commits."""
    return Path(out_dir) / STAGING_DIR / str(run_id)


def commit_staged(staged_root: Path, out_dir: Path) -> dict[str, Path]:
    """Move every file staged under ``staged_root`` to the same place under ``out_dir`` (each by one
    ``os.replace``), remove the staging folder, and return {path relative to ``out_dir`` ("MLI/2020-06-01/
    report.html"): final path}."""
    staged_root = Path(staged_root)
    moved = {}
    for path in sorted(p for p in staged_root.rglob("*") if p.is_file()):
        relative = path.relative_to(staged_root)
        target = Path(out_dir) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved[relative.as_posix()] = target
    discard_staged(staged_root)
    return moved


def discard_stale_staging(out_dir: Path, country: str, week: date) -> None:
    """Remove what killed runs left staged for this (country, week) (the caller holds the week's lease)."""
    for folder in (Path(out_dir) / STAGING_DIR).glob(f"*/{country}/{pd.Timestamp(week).date().isoformat()}"):
        discard_staged(folder.parent.parent)


def discard_staged(staged_root: Path) -> None:
    """Remove a staging folder (a failed run's files never reach the published folders)."""
    shutil.rmtree(staged_root, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# The weekly report's skill table and the outputs of `vigie backtest`
# --------------------------------------------------------------------------------------------------


def selection_file(out_dir: Path, country: str, kind: str) -> Path:
    """``<out_dir>/<country>/<file>``: one table of the last weekly selection backtest (``kind`` a key of
    :data:`SELECTION_FILES`), kept for the weekly report."""
    return Path(out_dir) / str(country) / SELECTION_FILES[kind]


def write_selection_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path, country: str) -> dict[str, Path]:
    """Write each of ``tables`` ({kind: frame}) to its :func:`selection_file`, all atomically together."""
    paths = {kind: selection_file(out_dir, country, kind) for kind in tables}

    def writer(frame: pd.DataFrame, path: Path):
        if path.suffix == ".parquet":
            return _parquet_writer(frame)
        return lambda handle: frame.to_csv(handle, index=False)

    write_atomically({paths[kind]: writer(frame, paths[kind]) for kind, frame in tables.items()})
    return paths


def read_selection_tables(out_dir: Path, country: str) -> dict[str, pd.DataFrame | None]:
    """Every table of the last weekly selection backtest ({kind: frame, or None before the first one})."""
    return {kind: read_selection_table(out_dir, country, kind) for kind in SELECTION_FILES}


def read_selection_table(out_dir: Path, country: str, kind: str) -> pd.DataFrame | None:
    """One table of the last weekly selection backtest, or None before the first one."""
    path = selection_file(out_dir, country, kind)
    if not path.exists():
        return None
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


#: Where the withdrawal study is kept between retrainings, and the file of its text and keys.
STUDY_DIR, STUDY_FILE = "withdrawal_study", "study.json"


def write_withdrawal_study(evidence: WithdrawalEvidence, out_dir: Path, country: str) -> Path:
    """Keep the study of ``evidence`` (its estimates, sentences, notes, cutoff and key) in
    ``<out_dir>/<country>/withdrawal_study/``, all files atomically together; returns the folder."""
    folder = Path(out_dir) / str(country) / STUDY_DIR
    meta = {"cutoff": None if evidence.cutoff is None else str(evidence.cutoff.date()), "key": evidence.key,
            "sentences": list(evidence.sentences), "notes": list(evidence.notes)}
    files = {folder / f"{name}.parquet": _parquet_writer(frame) for name, frame in evidence.study_tables().items()}
    files[folder / STUDY_FILE] = lambda handle: handle.write(json.dumps(meta, indent=1).encode())
    write_atomically(files)
    return folder


def _parquet_writer(frame: pd.DataFrame) -> Callable[[BinaryIO], None]:
    return lambda handle: frame.to_parquet(handle, index=False)


def read_withdrawal_study(out_dir: Path, country: str) -> WithdrawalEvidence | None:
    """The kept study (no departures or deployments: the run adds its own), or None before the first one."""
    folder = Path(out_dir) / str(country) / STUDY_DIR
    if not (folder / STUDY_FILE).exists():
        return None
    meta = json.loads((folder / STUDY_FILE).read_text())
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in STUDY_TABLES}
    empty = pd.DataFrame()
    return WithdrawalEvidence(empty, tables["effects"], tables["event_study"], tables["hazard_ratios"],
                              meta["sentences"], meta["notes"], empty,
                              None if meta["cutoff"] is None else pd.Timestamp(meta["cutoff"]), meta["key"])


def backtest_dir(out_dir: Path, country: str, start: date, end: date) -> Path:
    """``<out_dir>/<country>/backtests/<start>_<end>``: one `vigie backtest` run's tables (never the weekly report's)."""
    return Path(out_dir) / str(country) / "backtests" / f"{start}_{end}"


def write_backtest_tables(tables: Mapping[str, pd.DataFrame], folder: Path, *, json_too: Sequence[str] = ()) -> dict[str, Path]:
    """Write each table as ``<name>.csv`` (and ``<name>.json`` for the names in ``json_too``) atomically."""
    files, paths = {}, {}
    for name, frame in tables.items():
        paths[f"{name}_csv"] = Path(folder) / f"{name}.csv"
        files[paths[f"{name}_csv"]] = (lambda f: lambda handle: f.to_csv(handle, index=False))(frame)
        if name in json_too:
            paths[f"{name}_json"] = Path(folder) / f"{name}.json"
            files[paths[f"{name}_json"]] = (lambda f: lambda handle: handle.write(
                f.to_json(orient="records", indent=1).encode()))(frame)
    write_atomically(files)
    return paths


def stage_week(scores: pd.DataFrame, districts: gpd.GeoDataFrame, report_html: str, out_dir: Path, run_id: str) -> Path:
    """Write one week's exports and report under :func:`staging_root` (the published folders are untouched);
    :func:`commit_staged` moves them into place once the publish has committed. Returns the staging root."""
    root = staging_root(out_dir, run_id)
    country, week = publication_key(scores)
    discard_stale_staging(out_dir, country, week)
    write_week_exports(scores, districts, root)
    write_report(report_html, root, country, week)
    return root


def stage_region(scores: pd.DataFrame, districts: gpd.GeoDataFrame, reports: Mapping[str, str], out_dir: Path,
                 run_id: str) -> Path:
    """:func:`stage_week` of a regional run: each country's exports under its own folder, and the reports
    (``reports``: a country's code, or the region's "XAA+XAB", -> its HTML) beside them. Returns the staging root."""
    root = staging_root(out_dir, run_id)
    week = pd.Timestamp(scores["week_start"].iloc[0]).date()
    for country in dict.fromkeys(scores["country_iso3"].astype(str)):
        discard_stale_staging(out_dir, country, week)
        write_week_exports(scores[scores["country_iso3"].astype(str) == country], districts, root)
    for key, html in reports.items():
        write_report(html, root, key, week)
    return root


def _write_html(html: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_scenario_report(html: str, exports_dir: Path, country_iso3: str, scenario_id: str, week_start) -> Path:
    """Write the report atomically as ``<exports_dir>/<country>/scenarios/<country>_<scenario>_<week>.html``."""
    name = f"{country_iso3}_{scenario_id}_{pd.Timestamp(week_start).date().isoformat()}.html"
    return _write_html(html, Path(exports_dir) / country_iso3 / "scenarios" / name)


def write_gazetteer_check(html: str, exports_dir: Path, country_iso3: str) -> Path:
    """Write the gazetteer check page atomically as ``<exports_dir>/<country>/gazetteer_check.html``."""
    return _write_html(html, Path(exports_dir) / country_iso3 / "gazetteer_check.html")
