"""The score schema is one source of truth: the database's CHECK constraints say what the code says."""

from __future__ import annotations

from models.slots import HAZARD_HORIZON, HORIZONS
from publish.schema import INTERVAL_ORDER, RANGES, SCORE_COLUMNS, TIERS
from publish.score_store import MIGRATIONS

DDL = " ".join(" ".join(statements) for _, statements in MIGRATIONS)


def test_the_horizon_check_is_the_published_horizons():
    assert f"horizon_weeks IN ({', '.join(map(str, HORIZONS))})" in DDL


def test_the_tier_check_is_the_tiers():
    assert "tier IN (" + ", ".join(f"'{t}'" for t in TIERS) + ")" in DDL


def test_the_range_checks_are_the_ranges():
    for name, (lo, hi) in RANGES.items():
        assert f"{name} BETWEEN {lo:g} AND {hi:g}" in DDL, name
    ordered = " AND ".join(f"{a} <= {b}" for a, b in zip(INTERVAL_ORDER, INTERVAL_ORDER[1:]))
    assert ordered.replace(" AND ", " ") in " ".join(DDL.split()).replace(" AND ", " ")


def test_the_hazard_columns_are_named_from_the_hazard_horizon():
    assert {f"p_any_violence_{HAZARD_HORIZON}w", f"p_major_attack_{HAZARD_HORIZON}w"} <= set(SCORE_COLUMNS)
