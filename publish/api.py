"""The consumers' HTTP door: a read-only JSON API over the score store (``vigie api`` serves it).

Endpoints (all GET; OpenAPI schema at ``/openapi.json``, docs at ``/docs``):

* ``/health`` - the store answers;
* ``/publications`` - one row per published (country, week): run, time, data cutoff, source;
* ``/scores/latest`` - the rows of each country's latest published week;
* ``/scores/{week}`` - the rows published for a week (any day of it: its Monday is used);
* ``/districts/{district_code}/history`` - every published row of one district, oldest week first;
* ``/scenarios/{scenario_id}`` - the rows of a what-if scenario (never the published scores).

Row lists are paged (``limit`` 1..1000, default 100; ``offset``) and answer ``{"total", "limit", "offset",
"items"}``; filters: ``country`` (ISO3), ``horizon`` (weeks). Rows carry exactly the columns of the score
tables (``docs/`` and the README document them); days are written YYYY-MM-DD and instants ISO 8601 to the
second, as everywhere in Vigie's JSON. Bad parameters answer 422, unknown weeks, districts and scenarios 404.
The API never writes: it reads through :class:`publish.score_store.ScoreStore` only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Optional

import pandas as pd
from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, create_model

from features.panel import monday_on_or_before
from publish.console import json_records
from publish.schema import PUBLICATION_COLUMNS, SCENARIO_COLUMNS, SCORE_COLUMNS
from publish.score_store import SCHEMA_VERSION, ScoreStore, StoreUnavailable

MAX_LIMIT = 1000
_TYPES = {"TEXT": str, "DATE": date, "TIMESTAMP WITH TIME ZONE": datetime, "DOUBLE PRECISION": float,
          "INTEGER": int, "BOOLEAN": bool}


def _row_model(name: str, columns: dict[str, tuple[str, str]]) -> type[BaseModel]:
    """A pydantic model of one table row, its fields typed and described from the table's column spec."""
    fields: dict[str, Any] = {}
    for column, (sql, description) in columns.items():
        required = sql.endswith("NOT NULL")
        kind = _TYPES[sql.removesuffix(" NOT NULL")]
        fields[column] = (kind, Field(description=description)) if required else (
            Optional[kind], Field(None, description=description))
    return create_model(name, **fields)


ScoreRow = _row_model("ScoreRow", SCORE_COLUMNS)
PublicationRow = _row_model("PublicationRow", PUBLICATION_COLUMNS)
ScenarioRow = _row_model("ScenarioRow", SCENARIO_COLUMNS)


def _page_model(name: str, row: type[BaseModel]) -> type[BaseModel]:
    return create_model(name, total=(int, Field(description="Rows matching the query, all pages.")),
                        limit=(int, ...), offset=(int, ...), items=(list[row], ...))


ScorePage = _page_model("ScorePage", ScoreRow)
PublicationPage = _page_model("PublicationPage", PublicationRow)
ScenarioPage = _page_model("ScenarioPage", ScenarioRow)


class Health(BaseModel):
    ok: bool
    schema_version: int = Field(description="Version of the score tables' schema.")


Country = Annotated[Optional[str], Query(pattern="^[A-Z]{3}$", description="Only this country (ISO3 code).")]
Horizon = Annotated[Optional[int], Query(ge=1, le=52, description="Only this horizon, in weeks (1, 4 or 13).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, description="Rows skipped before the page.")]
NOT_FOUND = {404: {"description": "Nothing of that name or week is published."}}


def page(frame: pd.DataFrame, limit: int, offset: int) -> dict:
    """One page of ``frame``'s rows (in its order) as the API answers it."""
    return {"total": int(len(frame)), "limit": limit, "offset": offset,
            "items": json_records(frame.iloc[offset: offset + limit])}


def filtered(frame: pd.DataFrame, country: str | None, horizon: int | None) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if country is not None:
        keep &= frame["country_iso3"] == country
    if horizon is not None and "horizon_weeks" in frame:
        keep &= frame["horizon_weeks"] == horizon
    return frame[keep]


def monday_of(day: date) -> date:
    """The Monday of the week holding ``day`` (weeks start on Monday, as published)."""
    return monday_on_or_before(day).date()


class StoreNotReady(RuntimeError):
    """The score store has no tables yet, or tables of another schema version: the API does not migrate it."""


def readable_store(url: str) -> ScoreStore:
    """The score store at ``url``, refused unless its schema is this code's (the API never writes, so it never
    creates or migrates tables: a weekly run does)."""
    store = ScoreStore(url)
    version = store.schema_version()
    if version != SCHEMA_VERSION:
        store.close()
        found = "has no score tables yet" if version == 0 else f"has schema version {version}, this code reads {SCHEMA_VERSION}"
        raise StoreNotReady(f"score store {store} {found}: run `vigie run` (or the weekly job) with this version first")
    return store


def create_app(store: ScoreStore) -> FastAPI:
    """The API over ``store`` (read-only)."""
    app = FastAPI(title="Vigie scores", version="1",
                  description="Weekly district conflict-risk scores published by Vigie (read-only).")

    @app.exception_handler(StoreUnavailable)
    def unavailable(request, exc: StoreUnavailable):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.get("/health", response_model=Health)
    def health():
        return {"ok": True, "schema_version": store.schema_version()}

    @app.get("/publications", response_model=PublicationPage)
    def publications(country: Country = None, limit: Limit = 100, offset: Offset = 0):
        return JSONResponse(page(filtered(store.publications(), country, None), limit, offset))

    @app.get("/scores/latest", response_model=ScorePage)
    def latest(country: Country = None, horizon: Horizon = None, limit: Limit = 100, offset: Offset = 0):
        return JSONResponse(page(filtered(store.latest(country), None, horizon), limit, offset))

    @app.get("/scores/{week}", response_model=ScorePage, responses=NOT_FOUND)
    def week(week: Annotated[date, Path(description="Any day of the week (YYYY-MM-DD); its Monday is used.")],
             country: Country = None, horizon: Horizon = None, limit: Limit = 100, offset: Offset = 0):
        monday = monday_of(week)
        rows = store.week(monday, country)
        if rows.empty:
            raise HTTPException(404, f"no scores published for the week of {monday}"
                                     + (f" in {country}" if country else ""))
        return JSONResponse(page(filtered(rows, None, horizon), limit, offset))

    @app.get("/districts/{district_code}/history", response_model=ScorePage, responses=NOT_FOUND)
    def history(district_code: Annotated[str, Path(min_length=1, max_length=64)], horizon: Horizon = None,
                limit: Limit = 100, offset: Offset = 0):
        rows = store.history(district_code)
        if rows.empty:
            raise HTTPException(404, f"no scores published for district {district_code!r}")
        return JSONResponse(page(filtered(rows, None, horizon), limit, offset))

    @app.get("/scenarios/{scenario_id}", response_model=ScenarioPage, responses=NOT_FOUND)
    def scenario(scenario_id: Annotated[str, Path(min_length=1, max_length=128)],
                 week: Annotated[Optional[date], Query(description="Only this week (any day of it).")] = None,
                 country: Country = None, horizon: Horizon = None, limit: Limit = 100, offset: Offset = 0):
        rows = store.scenario(scenario_id, None if week is None else monday_of(week))
        if rows.empty:
            raise HTTPException(404, f"no rows of scenario {scenario_id!r}" + (f" for the week of {monday_of(week)}"
                                                                              if week else ""))
        return JSONResponse(page(filtered(rows, country, horizon), limit, offset))

    return app
