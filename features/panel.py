"""The district-week panel: every district times every week, zero-filled.

Weeks start on Monday. A cell (d, w) of a measure holds the events dated in [w, w + 7 days) in district d.
The panel is held as dense ``(n_districts, n_weeks)`` arrays, one per measure, so that feature builders
work on whole arrays (cumulative sums along weeks, sparse adjacency products across districts) instead of
looping over districts or weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from features.schema import VIOLENT_EVENT_TYPES

#: A measure turns the event table into one number per event (0 when the event does not count).
MeasureFn = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Measure:
    """A weekly quantity aggregated from events: ``value(events)`` summed per district-week."""

    name: str
    description: str
    unit: str
    value: MeasureFn


def week_start(dates: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Monday (00:00) of the week holding each date."""
    d = pd.to_datetime(dates)
    if isinstance(d, pd.DatetimeIndex):
        d = pd.Series(d)
    return (d.dt.normalize() - pd.to_timedelta(d.dt.dayofweek, unit="D")).astype("datetime64[s]")


def monday_on_or_before(day) -> pd.Timestamp:
    ts = pd.Timestamp(day).normalize()
    return ts - pd.Timedelta(days=ts.dayofweek)


def _is_type(*types: str) -> MeasureFn:
    return lambda ev: ev["event_type"].isin(types).to_numpy(dtype=bool).astype(np.float64)


def _violent(ev: pd.DataFrame) -> np.ndarray:
    return ev["event_type"].isin(VIOLENT_EVENT_TYPES).to_numpy(dtype=bool)


def _violent_fatalities(ev: pd.DataFrame) -> np.ndarray:
    return np.where(_violent(ev), ev["fatalities"].fillna(0).to_numpy(dtype=np.float64), 0.0)


def major_attack_measure(min_fatalities: int) -> Measure:
    """Violent events with at least ``min_fatalities`` deaths (the configurable "major attack")."""

    def value(ev: pd.DataFrame) -> np.ndarray:
        return (_violent(ev) & (ev["fatalities"].fillna(0).to_numpy() >= min_fatalities)).astype(np.float64)

    return Measure("major_attacks", f"violent events with {min_fatalities} or more fatalities", "events", value)


def base_measures(min_fatalities: int = 5) -> list[Measure]:
    """The measures every run builds: violent events by type, their fatalities, major attacks, unrest."""
    return [
        Measure("violent_events", "violent events (battles, explosions/remote violence, violence against civilians)", "events",
                lambda ev: _violent(ev).astype(np.float64)),
        Measure("battles", "battles", "events", _is_type("Battles")),
        Measure("explosions", "explosions/remote violence", "events", _is_type("Explosions/Remote violence")),
        Measure("civilian_violence", "violence against civilians", "events", _is_type("Violence against civilians")),
        Measure("fatalities", "fatalities in violent events", "deaths", _violent_fatalities),
        major_attack_measure(min_fatalities),
        Measure("protests", "protests", "events", _is_type("Protests")),
        Measure("riots", "riots", "events", _is_type("Riots")),
        Measure("strategic", "strategic developments", "events", _is_type("Strategic developments")),
    ]


@dataclass(frozen=True)
class Panel:
    """Dense district-week arrays.

    ``weeks`` are consecutive Mondays; the panel's data cutoff is ``weeks[-1] + 7 days``: every cell is
    complete (no event dated on or after the cutoff is counted).
    """

    districts: pd.Index
    weeks: pd.DatetimeIndex
    measures: dict[str, np.ndarray] = field(default_factory=dict)
    descriptions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.districts), len(self.weeks)

    @property
    def cutoff(self) -> pd.Timestamp:
        return self.weeks[-1] + pd.Timedelta(days=7)

    def long_index(self) -> pd.DataFrame:
        """district_code and week_start columns in the panel's (district-major) cell order."""
        n_d, n_w = self.shape
        return pd.DataFrame({
            "district_code": pd.array(np.repeat(self.districts.to_numpy(), n_w), dtype="string"),
            "week_start": np.tile(self.weeks.to_numpy(), n_d),
        })

    def to_frame(self, names: list[str] | None = None) -> pd.DataFrame:
        """Long frame: district_code, week_start and the named measures (all by default)."""
        out = self.long_index()
        for name in names or list(self.measures):
            out[name] = self.measures[name].ravel()
        return out


def build_panel(
    events: pd.DataFrame,
    districts: pd.Index | list[str],
    *,
    start,
    end,
    measures: list[Measure],
) -> Panel:
    """Aggregate assigned events into a dense, zero-filled panel of the weeks [start, end).

    ``start`` and ``end`` are rounded down to Mondays; the last week is the one before ``end``'s Monday, so a
    panel built with ``end = as_of`` holds only weeks that closed before the forecast week. Events without a
    district, outside the districts or outside the weeks are ignored.
    """
    first, stop = monday_on_or_before(start), monday_on_or_before(end)
    if stop <= first:
        raise ValueError(f"panel needs at least one week between {start} and {end}")
    weeks = pd.date_range(first, stop - pd.Timedelta(days=7), freq="7D").astype("datetime64[s]")
    districts = pd.Index(list(districts), dtype="string", name="district_code")
    d_idx = districts.get_indexer(events["district_code"].astype("string").fillna(""))
    w_idx = ((week_start(events["event_date"]) - first).dt.days // 7).to_numpy()
    keep = (d_idx >= 0) & (w_idx >= 0) & (w_idx < len(weeks))
    flat = d_idx[keep] * len(weeks) + w_idx[keep]
    kept = events.loc[keep]
    arrays, descriptions = {}, {}
    for m in measures:
        values = m.value(kept)
        arrays[m.name] = np.bincount(flat, weights=values, minlength=len(districts) * len(weeks)).reshape(
            len(districts), len(weeks)).astype(np.float32)
        descriptions[m.name] = (m.description, m.unit)
    return Panel(districts, pd.DatetimeIndex(weeks, name="week_start"), arrays, descriptions)
