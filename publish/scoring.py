"""Score the forecast week with the champions and turn their outputs into the published
``district_risk_scores`` rows (pure: fitted models and the feature table in, a frame out)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.table import FeatureTable
from models.distributions import CountDistribution
from models.protocol import CountModel, HazardModel, Model
from models.slots import HAZARD_HORIZON, HORIZONS, Slot
from models.training import model_rows
from publish.schema import TIERS


@dataclass(frozen=True)
class ScoreContext:
    """Facts stamped on every published row."""

    country_iso3: str
    week_start: pd.Timestamp
    data_cutoff: pd.Timestamp
    run_id: str
    count_model: str
    hazard_model: str
    published_at: pd.Timestamp
    is_simulated: bool
    event_source: str


def tier_of(score: np.ndarray, elevated: float, high: float, severe: float) -> np.ndarray:
    """Tier of a 0-100 risk score: a score at or above a threshold takes that tier."""
    return np.asarray(TIERS, dtype=object)[np.searchsorted([elevated, high, severe], score, side="right")]


def describe_drivers(contributions: pd.DataFrame, descriptions: dict[str, str], top: int = 3) -> pd.DataFrame:
    """The ``top`` features that move each row's risk most: ``driver_k`` as '+ description' (raises risk) or
    '- description' (lowers it), and ``driver_k_feature`` the feature's catalog name.

    ``contributions`` holds one column per feature (additive terms on the model's link scale, e.g. SHAP values).
    """
    values = contributions.to_numpy(np.float64)
    order = np.argsort(-np.abs(values), axis=1)[:, :top]
    names = contributions.columns.to_numpy()[order]
    signs = np.take_along_axis(values, order, axis=1)
    described = pd.Series(names.ravel()).map(lambda n: descriptions.get(n, n)).to_numpy(object).reshape(names.shape)
    text = np.where(signs >= 0, "+ ", "- ") + described
    out = {}
    for k in range(top):
        out[f"driver_{k + 1}"] = text[:, k]
        out[f"driver_{k + 1}_feature"] = names[:, k]
    return pd.DataFrame(out, index=contributions.index)


def score_rows(
    districts: pd.DataFrame,
    counts: dict[int, CountDistribution],
    p_major_4w: np.ndarray,
    drivers: pd.DataFrame,
    previous: pd.DataFrame | None,
    context: ScoreContext,
    tiers: tuple[float, float, float],
) -> pd.DataFrame:
    """One row per district and horizon.

    ``districts`` (district_code, district_name, admin1_name) is in the same row order as every array;
    ``counts[h]`` is the distribution of violent events in the ``h`` weeks from ``week_start``;
    ``previous`` holds the last published week's rows (for score_change), or None.
    """
    n = len(districts)
    p_major = np.clip(np.asarray(p_major_4w, dtype=np.float64), 0.0, 1.0)
    score = np.round(100.0 * p_major, 2)
    rank = pd.Series(score).rank(ascending=False, method="min").to_numpy(int)
    p_any = (np.clip(counts[HAZARD_HORIZON].prob_at_least(1), 0.0, 1.0) if HAZARD_HORIZON in counts
             else np.full(n, np.nan))
    base = pd.DataFrame({
        "country_iso3": context.country_iso3,
        "district_code": districts["district_code"].to_numpy(),
        "district_name": districts["district_name"].to_numpy(),
        "admin1_name": districts["admin1_name"].to_numpy(),
        "week_start": pd.Timestamp(context.week_start).date(),
        "p_any_violence_4w": p_any,
        "p_major_attack_4w": p_major,
        "risk_score": score,
        "tier": tier_of(score, *tiers),
        "rank": rank,
    })
    if previous is not None and len(previous):
        prev = previous.drop_duplicates("district_code").set_index("district_code")["risk_score"]
        base["score_change"] = base["risk_score"] - base["district_code"].map(prev).astype("Float64")
    else:
        base["score_change"] = np.nan
    base = pd.concat([base, drivers.reset_index(drop=True)], axis=1)
    rows = []
    for h, dist in sorted(counts.items()):
        lo80, hi80 = dist.interval(0.8)
        lo90, hi90 = dist.interval(0.9)
        rows.append(base.assign(horizon_weeks=h, expected_events=dist.mean, events_lo80=lo80, events_hi80=hi80,
                                events_lo90=lo90, events_hi90=hi90))
    out = pd.concat(rows, ignore_index=True)
    out["data_cutoff"] = pd.Timestamp(context.data_cutoff).date()
    out["count_model"] = context.count_model
    out["hazard_model"] = context.hazard_model
    out["run_id"] = context.run_id
    out["published_at"] = pd.Timestamp(context.published_at)
    out["is_simulated"] = context.is_simulated
    out["event_source"] = context.event_source
    return out


@dataclass
class Champions:
    """The fitted champion of every slot, its label ``<registered name>:v<version> (<recipe>)`` and its recipe
    (the suite's name, e.g. ``hawkes_nb``; what backtest tables call the model)."""

    models: dict[Slot, Model]
    labels: dict[Slot, str]
    recipes: dict[Slot, str] = field(default_factory=dict)

    def recipe_labels(self) -> dict[str, str]:
        """{slot label ("count-h1"): recipe}."""
        return {slot.label: recipe for slot, recipe in self.recipes.items()}


def _no_drivers(n: int) -> pd.DataFrame:
    return pd.DataFrame({f"driver_{i}{part}": pd.Series([pd.NA] * n, dtype="string")
                         for i in (1, 2, 3) for part in ("", "_feature")})


def week_drivers(champions: Champions, table: FeatureTable, rows: pd.DataFrame) -> pd.DataFrame:
    """The three strongest contributions per row: from the hazard champion, else the 4-week count champion,
    else none (a champion that cannot split its prediction, e.g. a baseline, gives null drivers)."""
    descriptions = {s.name: s.description for s in table.specs}
    for slot in (Slot("hazard", HAZARD_HORIZON), Slot("count", HAZARD_HORIZON)):
        model = champions.models.get(slot)
        if model is None:
            continue
        contributions = model.contributions(model_rows(model, table, rows))
        if contributions is not None and contributions.shape[1]:
            return describe_drivers(contributions, descriptions)
    return _no_drivers(len(rows))


def score_week(table: FeatureTable, champions: Champions, districts: pd.DataFrame, *, country_iso3: str,
               run_id: str, event_source: str, previous: pd.DataFrame | None, tiers: tuple[float, float, float],
               published_at: pd.Timestamp, district_countries: pd.Series | None = None) -> pd.DataFrame:
    """The publishable rows of the table's forecast week: every district at every horizon of :data:`HORIZONS`.

    For a region, ``district_countries`` (district_code -> ISO3) gives each row its country and ranks each
    district among its own country's districts (one model forecasts the whole region).

    ``districts``: the gazetteer's district_code, district_name, admin1_name; ``previous``: the last published
    week's rows (for score_change) or None; ``event_source``: the one source of the table's events and of the
    champions ("acled", "ucdp" or "simulated"; rows are labelled simulated exactly when it is "simulated");
    ``tiers``: the elevated, high and severe thresholds (0-100).
    """
    rows = table.forecast_rows().reset_index(drop=True)
    names = districts[["district_code", "district_name", "admin1_name"]].set_index("district_code")
    names = names.loc[rows["district_code"]].reset_index()
    counts = {}
    for h in HORIZONS:
        model: CountModel = champions.models[Slot("count", h)]
        counts[h] = model.predict(model_rows(model, table, rows))
    hazard_slot = Slot("hazard", HAZARD_HORIZON)
    hazard: HazardModel = champions.models[hazard_slot]
    p_major = hazard.predict_proba(model_rows(hazard, table, rows))
    context = ScoreContext(country_iso3, table.forecast_week, table.data_cutoff, run_id,
                           ",".join(champions.labels[Slot("count", h)] for h in HORIZONS), champions.labels[hazard_slot],
                           published_at, event_source == "simulated", event_source)
    scored = score_rows(names, counts, p_major, week_drivers(champions, table, rows), previous, context, tiers)
    return scored if district_countries is None else by_country(scored, district_countries)


def by_country(scored: pd.DataFrame, district_countries: pd.Series) -> pd.DataFrame:
    """A region's scored rows as their countries' rows: ``country_iso3`` of each district and its rank (1 =
    highest risk score) among its own country's districts, per horizon."""
    out = scored.assign(country_iso3=district_countries.reindex(scored["district_code"]).to_numpy(dtype=object))
    ranks = out.groupby(["country_iso3", "horizon_weeks"])["risk_score"].rank(ascending=False, method="min")
    return out.assign(rank=ranks.astype(int))
