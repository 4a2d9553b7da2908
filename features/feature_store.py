"""Stored feature tables: one Parquet file per country and data cutoff, with the catalog beside it.

The file's key-value metadata records the data cutoff, forecast week, catalog version and row count, so a
stored table says what it was built from. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from features.table import FeatureTable


def feature_table_path(root: Path, country_iso3: str, forecast_week) -> Path:
    return Path(root) / country_iso3 / f"features_{forecast_week:%Y-%m-%d}.parquet"


def write_feature_table(table: FeatureTable, root: Path, country_iso3: str, *, extra: dict | None = None) -> Path:
    """Write the long frame (features and targets) and its catalog; returns the Parquet path."""
    path = feature_table_path(root, country_iso3, table.forecast_week)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "country_iso3": country_iso3,
        "data_cutoff": str(table.data_cutoff.date()),
        "forecast_week": str(table.forecast_week.date()),
        "catalog_version": table.catalog_version,
        "n_features": str(len(table.specs)),
        **{k: str(v) for k, v in (extra or {}).items()},
    }
    arrow = pa.Table.from_pandas(table.frame, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), b"vigie": json.dumps(meta).encode()})
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(arrow, tmp, compression="zstd")
    os.replace(tmp, path)
    catalog = path.with_name(path.stem + "_catalog.json")
    tmp_cat = catalog.with_name(f".{catalog.name}.tmp")
    tmp_cat.write_text(table.catalog.to_json(orient="records", indent=1))
    os.replace(tmp_cat, catalog)
    return path


def read_feature_metadata(path: Path) -> dict:
    """The metadata a stored feature table was written with."""
    return json.loads(pq.read_schema(path).metadata[b"vigie"])
