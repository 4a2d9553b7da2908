"""Political features: the national political calendar (coups, elections, sanctions, accords, ...) and
protests, riots and strategic developments, in the district and nationally.

Time alignment. Every value of the week ``t`` (the Monday ``week_start``, 00:00) uses only what was
known before that instant:

* a calendar event is known from its ``date``: one dated on any day of week ``w`` (the Monday included)
  is first seen in week ``w + 1``, where "weeks since" is 1 (:func:`features.windows.weeks_since`);
* a scheduled event (an election or referendum, ``scheduled`` true) is *upcoming* in week ``t`` when it
  was announced before week_start (``announced_on < week_start``) and has not yet taken place
  (``date >= week_start``); "weeks until" counts whole weeks from week ``t`` to the week holding the
  date (0 = it falls in week ``t`` itself);
* events (protests, riots, strategic developments) count when dated in the ``w`` weeks before
  week_start (:func:`features.windows.past_sum`).

Calendar features are national: the same value for every district, broadcast over the districts.
History before the panel's first week counts (the weekly grid is padded before the panel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from features.panel import Panel, day_numbers, panel_days
from features.registries import CALENDAR_KINDS
from features.spec import BEFORE_WEEK, FeatureBlock, FeatureSpec
from features.windows import past_sum, weeks_since

FAMILY_CALENDAR = "political_calendar"
FAMILY_UNREST = "political_unrest"

#: Feature group of each calendar kind; every kind of :data:`features.registries.CALENDAR_KINDS` not
#: listed here falls in "other".
_GROUPED_KINDS: dict[str, tuple[str, ...]] = {
    "coup": ("coup",),
    "election": ("election", "referendum"),
    "sanctions": ("sanctions", "sanctions lifted"),
    "accord": ("peace accord", "accord ended"),
    "repression": ("party ban / repression",),
    "alliance": ("alliance",),
    "foreign_force_change": ("foreign force change", "foreign intervention"),
    "major_attack": ("major attack",),
}
CALENDAR_GROUPS: dict[str, tuple[str, ...]] = {
    **_GROUPED_KINDS,
    "other": tuple(k for k in CALENDAR_KINDS if all(k not in kinds for kinds in _GROUPED_KINDS.values())),
}
#: Group of the scheduled events whose upcoming date is a feature.
UPCOMING_GROUP = "election"
#: Windows (weeks) of the "a calendar event in the last w weeks" indicators.
CALENDAR_RECENT_WEEKS: tuple[int, ...] = (4, 13)
#: Horizon (weeks) of the "an election in the coming weeks" indicator.
UPCOMING_HORIZON_WEEKS = 4
#: Event types counted, by name fragment.
UNREST_TYPES: dict[str, str] = {"protests": "Protests", "riots": "Riots", "strategic": "Strategic developments"}

ALIGN_UPCOMING = "scheduled events announced before week_start (announced_on < week_start <= date)"


def political_features(
    panel: Panel,
    calendar: pd.DataFrame,
    events: pd.DataFrame,
    *,
    cap_weeks: int = 104,
    windows: Sequence[int] = (4, 13, 52),
    district_countries: Sequence[str] | None = None,
) -> FeatureBlock:
    """National calendar features and district / national unrest counts. Alignment: module docstring.

    For a panel of several countries, ``district_countries`` gives the ISO3 of each panel district and
    ``calendar`` a ``country_iso3`` column: each district's national values are then its own country's.

    ``calendar`` is :func:`features.registries.load_political_calendar` (date, kind, scheduled,
    announced_on); ``events`` is the normalized event table with a district_code column.

    Features, for each group ``g`` of :data:`CALENDAR_GROUPS` (national, broadcast over districts):

    * ``pol_weeks_since_<g>``: weeks since the last calendar event of the group (1 = dated in the week
      before week_start), capped at ``cap_weeks`` (the cap means "none within the cap");
    * ``pol_<g>_w4`` / ``pol_<g>_w13``: 1 when one is dated in the 4 / 13 weeks before week_start;

    and ``pol_weeks_until_election`` (weeks from week_start's week to the week of the next scheduled
    election or referendum announced before week_start; 0 = this week; capped at ``cap_weeks``, the cap
    also meaning "none announced") and ``pol_election_next4w`` (1 when it falls in weeks t .. t+3).

    For each of protests, riots and strategic developments and each window ``w``: ``pol_<type>_w<w>``
    (events in the district in the ``w`` weeks before week_start) and ``pol_<type>_national_w<w>``
    (the same summed over all panel districts; events without a panel district are not counted).
    """
    if cap_weeks < 1:
        raise ValueError(f"cap_weeks must be >= 1, got {cap_weeks}")
    unknown = sorted(set(calendar["kind"].dropna()) - set(CALENDAR_KINDS))
    if unknown:
        raise ValueError(f"unknown calendar kinds {unknown}; expected some of {CALENDAR_KINDS}")
    first_day, n_w = panel_days(panel)
    countries, groups = _country_groups(district_countries, len(panel.districts))
    block = FeatureBlock()

    pad = max(cap_weeks, *CALENDAR_RECENT_WEEKS)
    day, has_day = day_numbers(calendar["date"])
    col = np.floor_divide(day - first_day, 7) + pad
    country_row = _calendar_rows(calendar, countries)
    for group, kinds in CALENDAR_GROUPS.items():
        of_group = has_day & calendar["kind"].isin(kinds).to_numpy(dtype=bool)
        weekly = _weekly(country_row[of_group], col[of_group], len(countries), pad + n_w)
        label = group.replace("_", " ")
        block.add(
            FeatureSpec(f"pol_weeks_since_{group}", FAMILY_CALENDAR,
                        f"weeks since the last national {label} event ({', '.join(kinds)}); "
                        f"capped at {cap_weeks} = none within", "weeks",
                        measure=f"calendar_{group}", scope="national", statistic="weeks_since"),
            _national(weeks_since(weekly, cap_weeks)[:, pad:], groups),
        )
        for w in CALENDAR_RECENT_WEEKS:
            block.add(
                FeatureSpec(f"pol_{group}_w{w}", FAMILY_CALENDAR,
                            f"1 when a national {label} event ({', '.join(kinds)}) is dated in the {w} weeks "
                            "before week_start", "indicator", w, measure=f"calendar_{group}", scope="national",
                            statistic="any"),
                _national(past_sum(weekly, w)[:, pad:] > 0, groups),
            )

    until = np.stack([_weeks_until_scheduled(calendar[country_row == g], first_day, n_w, cap_weeks)
                      for g in range(len(countries))])
    kinds = ", ".join(CALENDAR_GROUPS[UPCOMING_GROUP])
    block.add(
        FeatureSpec("pol_weeks_until_election", FAMILY_CALENDAR,
                    f"weeks until the week of the next scheduled {kinds} announced before week_start "
                    f"(0 = this week; capped at {cap_weeks} = none announced)", "weeks",
                    alignment=ALIGN_UPCOMING, measure=f"calendar_{UPCOMING_GROUP}", scope="national",
                    statistic="weeks_until"),
        _national(until, groups),
    )
    block.add(
        FeatureSpec(f"pol_election_next{UPCOMING_HORIZON_WEEKS}w", FAMILY_CALENDAR,
                    f"1 when an announced {kinds} falls in week_start's week or the "
                    f"{UPCOMING_HORIZON_WEEKS - 1} weeks after", "indicator", UPCOMING_HORIZON_WEEKS,
                    ALIGN_UPCOMING, measure=f"calendar_{UPCOMING_GROUP}", scope="national", statistic="upcoming"),
        _national(until < UPCOMING_HORIZON_WEEKS, groups),
    )
    return block.extend(_unrest_features(panel, events, first_day, n_w, windows, groups))


def _weeks_until_scheduled(calendar: pd.DataFrame, first_day: int, n_w: int, cap: int) -> np.ndarray:
    """(n_weeks,) weeks until the week of the next announced, not yet held, scheduled event; ``cap`` if none.

    One (n_rows, n_weeks) matrix over the scheduled rows (a few dozen): row r is upcoming in week t when
    ``announced_on < monday_t <= date``; its value is ``week(date) - t``; the minimum over rows is taken.
    """
    scheduled = calendar["scheduled"].fillna(False).to_numpy(dtype=bool)
    rows = scheduled & calendar["kind"].isin(CALENDAR_GROUPS[UPCOMING_GROUP]).to_numpy(dtype=bool)
    date, has_date = day_numbers(calendar.loc[rows, "date"])
    announced, has_announced = day_numbers(calendar.loc[rows, "announced_on"])
    monday = first_day + 7 * np.arange(n_w)
    upcoming = (has_date & has_announced)[:, None] & (announced[:, None] < monday) & (monday <= date[:, None])
    weeks_to_go = np.floor_divide(date - first_day, 7)[:, None] - np.arange(n_w)[None, :]
    until = np.where(upcoming, weeks_to_go, cap).min(axis=0, initial=cap)
    return np.minimum(until, cap).astype(np.float32)


def _unrest_features(
    panel: Panel, events: pd.DataFrame, first_day: int, n_w: int, windows: Sequence[int], groups: np.ndarray
) -> FeatureBlock:
    """``pol_<type>_w<w>`` and ``pol_<type>_national_w<w>`` (see :func:`political_features`)."""
    n_d = len(panel.districts)
    pad = max(windows, default=0)
    district = panel.districts.astype("string").get_indexer(events["district_code"].astype("string").fillna(""))
    day, has_day = day_numbers(events["event_date"])
    col = np.where(has_day, np.floor_divide(day - first_day, 7) + pad, -1)
    event_type = events["event_type"].astype("string")
    block = FeatureBlock()
    for slug, event_type_name in UNREST_TYPES.items():
        of_type = event_type.eq(event_type_name).fillna(False).to_numpy(dtype=bool)
        weekly = _weekly(np.where(of_type, district, -1), col, n_d, pad + n_w)
        national = _by_country_sum(weekly, groups)
        label = event_type_name.lower()
        for w in windows:
            block.add(
                FeatureSpec(f"pol_{slug}_w{w}", FAMILY_UNREST,
                            f"{label} in the district in the {w} weeks before week_start", "events", w, BEFORE_WEEK,
                            measure=slug, scope="own", statistic="sum"),
                past_sum(weekly, w)[:, pad:],
            )
            block.add(
                FeatureSpec(f"pol_{slug}_national_w{w}", FAMILY_UNREST,
                            f"{label} in all districts in the {w} weeks before week_start", "events", w, BEFORE_WEEK,
                            measure=slug, scope="national", statistic="sum"),
                _national(past_sum(national, w)[:, pad:], groups),
            )
    return block


# ---------------------------------------------------------------------- helpers




def _weekly(row: np.ndarray, col: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """(n_rows, n_cols) float32 counts of (row, col) pairs; pairs outside the grid are dropped."""
    keep = (row >= 0) & (row < n_rows) & (col >= 0) & (col < n_cols)
    flat = row[keep] * n_cols + col[keep]
    return np.bincount(flat, minlength=n_rows * n_cols).reshape(n_rows, n_cols).astype(np.float32)


def _country_groups(district_countries: Sequence[str] | None, n_districts: int) -> tuple[tuple, np.ndarray]:
    """The panel's countries (one unnamed country when ``district_countries`` is None) and each district's
    position among them."""
    if district_countries is None:
        return (None,), np.zeros(n_districts, dtype=np.int64)
    groups, countries = pd.factorize(pd.Series(list(district_countries), dtype="string"))
    return tuple(countries), groups.astype(np.int64)


def _calendar_rows(calendar: pd.DataFrame, countries: tuple) -> np.ndarray:
    """Each calendar row's country position (0 for a panel of one country; -1 for a country not in the panel)."""
    if countries == (None,):
        return np.zeros(len(calendar), dtype=np.int64)
    return pd.Index(countries).get_indexer(calendar["country_iso3"].astype("string")).astype(np.int64)


def _by_country_sum(weekly: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(n_countries, n_cols) sums over each country's districts of a (n_districts, n_cols) array."""
    membership = sparse.csr_matrix((np.ones(len(groups), dtype=np.float32), (groups, np.arange(len(groups)))))
    return np.asarray(membership @ weekly, dtype=np.float32)


def _national(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(n_countries, n_weeks) national series given to each district of its country: (n_districts, n_weeks) float32."""
    return np.asarray(values, dtype=np.float32).reshape(-1, np.shape(values)[-1])[groups]
