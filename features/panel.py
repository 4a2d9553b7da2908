"""The district-week panel: every district times every week, zero-filled.

Weeks start on Monday. A cell (d, w) of a measure holds the events dated in [w, w + 7 days) in district d.
The panel is held as dense ``(n_districts, n_weeks)`` float32 arrays, one per measure (see
:mod:`features.measures` for what a measure counts), so that feature builders work on whole arrays
(cumulative sums along weeks, sparse adjacency products across districts) instead of looping over
districts or weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.measures import (
    ATTRIBUTE_INPUTS,
    MEASURES,
    MajorAttackRule,
    Measure,
    event_attributes,
)

__all__ = ["Measure", "Panel", "build_panel", "monday_on_or_before", "week_start", "week_index"]


def week_start(dates: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Monday (00:00) of the week holding each date."""
    d = pd.to_datetime(dates)
    if isinstance(d, pd.DatetimeIndex):
        d = pd.Series(d)
    return (d.dt.normalize() - pd.to_timedelta(d.dt.dayofweek, unit="D")).astype("datetime64[s]")


def monday_on_or_before(day) -> pd.Timestamp:
    ts = pd.Timestamp(day).normalize()
    return ts - pd.Timedelta(days=ts.dayofweek)


def week_index(dates: pd.Series, first_monday: pd.Timestamp) -> np.ndarray:
    """Week number of each date counted from ``first_monday`` (0 = its week; negative before; NaT -> -1e9).

    Pure integer arithmetic on day numbers: floor((day - first_monday) / 7).
    """
    days = pd.to_datetime(dates).to_numpy(dtype="datetime64[D]")
    valid = ~np.isnat(days)
    offset = days.astype(np.int64) - np.datetime64(first_monday, "D").astype(np.int64)
    return np.where(valid, np.floor_divide(offset, 7), -(10**9))


@dataclass(frozen=True)
class Panel:
    """Dense district-week arrays.

    ``weeks`` are consecutive Mondays; the panel's data cutoff is ``weeks[-1] + 7 days``: every cell is
    complete (no event dated on or after the cutoff is counted). ``descriptions[name]`` is
    (description, unit) of each measure.
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
        return pd.DataFrame(self.long_index_columns(), copy=False)

    def long_index_columns(self) -> dict[str, object]:
        """The two key columns of :meth:`long_index`, as arrays (district_code string, week_start datetime)."""
        n_d, n_w = self.shape
        codes = pd.array(self.districts.to_numpy(dtype=object), dtype="string")
        return {
            "district_code": codes.take(np.repeat(np.arange(n_d), n_w)),
            "week_start": np.tile(self.weeks.to_numpy(), n_d),
        }

    def to_frame(self, names: list[str] | None = None) -> pd.DataFrame:
        """Long frame: district_code, week_start and the named measures (all by default)."""
        columns = self.long_index_columns()
        for name in names or list(self.measures):
            columns[name] = self.measures[name].ravel()
        return pd.DataFrame(columns, copy=False)


def build_panel(
    events: pd.DataFrame,
    districts: pd.Index | Sequence[str],
    *,
    start,
    end,
    measures: Sequence[Measure] = MEASURES,
    actor_families=None,
    major: MajorAttackRule = MajorAttackRule(),
    cutoff=None,
    district_countries: pd.Series | None = None,
) -> Panel:
    """Aggregate assigned events into a dense, zero-filled panel of the weeks [start, end).

    ``events`` is the normalized event table with a ``district_code`` column (from
    ``Gazetteer.assign``). ``start`` and ``end`` are rounded down to Mondays; the last week is the one
    before ``end``'s Monday, so a panel built with ``end = as_of`` holds only weeks that closed before
    the forecast week. Events without a district, outside the districts or outside the weeks are
    ignored, and so are events dated on or after ``cutoff`` (the data cutoff, when given: weeks from its
    Monday on stay zero). ``actor_families`` (the actor-family registry) is required when a measure splits by
    perpetrator or target, or when ``major`` looks at targets; for districts of several countries it is a
    mapping ISO3 -> registry frame and ``district_countries`` (district_code -> ISO3) says which applies to an
    event (the country of its district). Each measure is one ``np.bincount`` over the kept events.
    """
    first, stop = monday_on_or_before(start), monday_on_or_before(end)
    if stop <= first:
        raise ValueError(f"panel needs at least one week between {start} and {end}")
    needs_families = major.uses_targets or any(m.needs_families for m in measures)
    if needs_families and actor_families is None:
        raise ValueError("measures split by perpetrator or target (or the major-attack rule) need actor_families")
    n_w = int((stop - first).days // 7)
    weeks = pd.DatetimeIndex(pd.date_range(first, periods=n_w, freq="7D").astype("datetime64[s]"), name="week_start")
    districts = pd.Index(list(districts), dtype="string", name="district_code")
    codes, uniques = pd.factorize(events["district_code"].astype("string"), use_na_sentinel=True)
    position = districts.get_indexer(pd.Index(uniques, dtype="string"))
    d_idx = np.where(codes >= 0, position[codes] if len(uniques) else -1, -1)
    w_idx = week_index(events["event_date"], first)
    keep = (d_idx >= 0) & (w_idx >= 0) & (w_idx < n_w)
    if cutoff is not None:
        keep &= (pd.to_datetime(events["event_date"]) < pd.Timestamp(cutoff)).to_numpy(dtype=bool)
    flat = d_idx[keep] * n_w + w_idx[keep]
    kept = events.loc[keep, list(ATTRIBUTE_INPUTS)]  # only the columns the measures read: no copy of the rest
    countries = None
    if district_countries is not None:
        countries = district_countries.reindex(districts).to_numpy(dtype=object)[d_idx[keep]]
    attributes = event_attributes(kept, actor_families if needs_families else None, major, countries)
    arrays, descriptions = {}, {}
    for m in measures:
        counts = np.bincount(flat, weights=m.weights(attributes), minlength=len(districts) * n_w)
        arrays[m.name] = counts.reshape(len(districts), n_w).astype(np.float32)
        description = f"{m.description}: {major.describe()}" if m.major_only else m.description
        descriptions[m.name] = (description, m.unit)
    return Panel(districts, weeks, arrays, descriptions)


def panel_days(panel: Panel) -> tuple[int, int]:
    """Day number (days since 1970-01-01) of the panel's first Monday, and the number of weeks."""
    days = panel.weeks.to_numpy(dtype="datetime64[D]").astype(np.int64)
    if len(days) == 0:
        raise ValueError("the panel has no week")
    if (np.diff(days) != 7).any() or pd.Timestamp(panel.weeks[0]).dayofweek != 0:
        raise ValueError("panel weeks must be consecutive Mondays")
    return int(days[0]), len(days)


def day_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers (int64, days since 1970-01-01) of dates, and which are not NaT."""
    dates = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    valid = ~np.isnat(dates)
    return np.where(valid, dates.astype(np.int64), 0), valid
