"""Event study of force withdrawals: how violence changed in a district, and next to it, after a force left.

Pure functions on DataFrames: no I/O, inputs are never modified, every result is a new frame.

Inputs (contracts)
------------------
``panel``
    One row per district x week, a full rectangle: every district at every Monday of one run of consecutive
    weeks, no gaps, no duplicates (any index, any row order). Columns ``district_code`` (str),
    ``week_start`` (datetime64, a Monday; the row's week is that Monday .. the Sunday after), ``y`` (float >= 0:
    violent events dated in that week), ``major`` (float 0/1: a major attack that week).
``withdrawals``
    One row per withdrawal. ``withdrawal_id`` (str, unique), ``district_code`` (str), ``week_start``
    (datetime64 Monday: the first Monday at which the force is no longer present = relative week 0; relative
    week -1 is the last week with the force), ``kind`` (str, e.g. "foreign combat", "peacekeeping",
    "regional", "private military", "national army"), ``label`` (str, human text such as
    "France (Barkhane) leaves Kidal"). A withdrawal whose window falls partly outside the panel is kept (and
    noted); one with no panel week in [-window, +window), or whose district is not in the panel, is dropped
    and noted.
``neighbours``
    ``district_code``, ``neighbour_code`` (str; queen contiguity, both directions listed; the pairs are
    symmetrised anyway, self-pairs, duplicates and districts absent from the panel are ignored).

Time alignment and units
------------------------
The relative week of a row to a withdrawal is ``rel = (row.week_start - withdrawal.week_start) / 7 days``, an
integer. A window of ``W`` weeks is ``rel`` in [-W, W): the W weeks with the force (-W .. -1) and the W weeks
without it (0 .. W - 1). Event-study bins are [a, a + bin_weeks) anchored at 0 ([-4, 0), [0, 4), ...), the
outermost ones cut at +-W (W = 26, bin_weeks = 4: [-26, -24), [-24, -20), ..., [-4, 0), [0, 4), ..., [24, 26)).
``rel_start`` / ``rel_end`` are those bounds in weeks (end excluded). Counts are events per district-week;
IRRs are ratios of expected weekly counts; hazard ratios are ratios of the weekly hazard of a major attack.

Exposure and overlaps
---------------------
*Own* exposure of a row: the withdrawals of the row's district with ``rel`` in [-W, W). When there are several
(two withdrawals less than 2W weeks apart), the row is counted once, with the *nearest* one (smallest
``|rel|``); a tie (the row midway) goes to the withdrawal already past (``rel >= 0``, the earlier one), a
remaining tie to the smallest ``withdrawal_id``. So the rows between two close withdrawals are split: the
first half are "after" the first one, the second half "before" the second one.
*Neighbour* exposure: the same, over the withdrawals of the neighbouring districts, and only for rows that
have no own exposure (own exposure takes precedence; a row is never in both scopes).

Which rows a fit uses
---------------------
For a fit of a group of withdrawals (all, one kind, or one), with the treatment window ``W`` and the
exclusion window ``E >= W`` (``E = W`` in :func:`event_study`, ``E = max(windows)`` in :func:`window_effects`
and :func:`hazard_ratios`):

* Span: only weeks from the earliest withdrawal of the group - E - 52 weeks to its latest + E weeks
  (exclusive) are used (:data:`LEAD_WEEKS` of clean history before the first window; nothing after the last
  window), which keeps the design small and the comparison local in time.
* Treated rows: own exposure within W to a group withdrawal, or, for rows with no own group withdrawal within
  E, neighbour exposure within W.
* Reference rows: the district-weeks outside every E-window of every withdrawal (of any group) in the district
  and in its neighbours: untouched districts, and touched ones before and after their windows.
* Dropped rows: those within E of a group withdrawal that the W-window does not cover (W < E), and any row
  within E (either scope) of a withdrawal outside the group (the other kinds' or other withdrawals' windows are
  dropped rather than used as controls, so a row is never treated by two different changes).
* District fixed effects are district-*period* effects: a district's period changes each time a spell of
  windows (the union of the overlapping E-windows in it and its neighbours) closes. A withdrawal's bins are
  therefore relative to the district's level just before its window, and the rows after the window, where a
  lasting change may have moved the level, get their own level instead of shifting the baseline; they still
  inform the week effects. Standard errors are clustered by district (not by period).
* Poisson fixed effects are not identified for district-periods whose ``y`` is all zero over the rows used,
  nor for weeks with zero total: they are dropped (and noted), repeatedly until none is left. An indicator
  whose rows have no event has an IRR of 0 (coefficient -> -inf): its rows are dropped and it is reported NaN
  (noted); an indicator with no row, or collinear with the fixed effects, is reported NaN (noted). A
  district-period whose fitted level still runs to 0 (separation by a combination of effects, e.g. one whose
  only events fall in the bins of its own withdrawal) is dropped and the fit redone (noted).

Estimation
----------
Poisson QMLE with district-period and week fixed effects. Dense dummies through statsmodels GLM take minutes
at 50 districts x 600 weeks (measured: 2-3.5 min per fit), so the fixed effects are concentrated out (:mod:`models.poisson_fe`): IRLS
where each weighted least-squares step projects the working response and the indicators on the two-way
dummies exactly (their normal equations, solved through the Schur complement on the district-periods). The
coefficients and both covariances equal those of ``statsmodels GLM(y, [X, district-period and week dummies],
Poisson)`` with ``cov_type="cluster"`` (groups = district; its small-sample factor G/(G-1) (N-1)/(N-K), K
counting the dummies) or with ``scale="X2"`` (the model-based covariance scaled by the Pearson chi2
dispersion): the tests check it. Confidence intervals are 95%: with the clustered covariance, from a t
distribution with G - 1 degrees of freedom (G districts in the fit, as statsmodels does with ``use_t=True``;
close to the normal with ~50 districts, wider with few); with the model-based one, normal.

Errors are clustered by district, except when the fit treats a single district in its own scope (a
per-withdrawal fit, or a kind with one withdrawal): one treated cluster makes the clustered interval
unreliable, so those rows use the model-based, overdispersion-scaled covariance (column ``errors`` says
which). Even with the t correction, clustered intervals resting on few treated districts tend to be too
narrow (on a synthetic null with 2 treated districts out of 8, about 90-95% coverage): a note says so below
:data:`FEW_TREATED` treated districts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import lapack

from models.poisson_fe import TwoWay, poisson_fe

#: Weeks of history kept before the earliest window of a group (the span restriction).
LEAD_WEEKS = 52
#: Weeks of past violence whose log1p is the control of :func:`hazard_ratios` (weeks t-52 .. t-1).
HISTORY_WEEKS = 52
CLUSTERED = "clustered by district"
MODEL_BASED = "model-based, overdispersion-scaled"
SCOPES = ("district", "neighbours")
LEVELS = ("pooled", "kind", "withdrawal")
#: Below this many own-treated districts, a clustered fit carries a note that its intervals may be too narrow.
FEW_TREATED = 10
_WEEK = 7


@dataclass(frozen=True)
class Exposure:
    """:func:`exposure`'s answer.

    ``frame`` has the panel's index and columns district_code, week_start, ``own_rel`` (Int64 weeks, <NA>
    outside every own window), ``own_withdrawal``, ``nbr_rel`` (<NA> when the row has own exposure or none),
    ``nbr_withdrawal``, ``nbr_district`` (where that withdrawal happened), ``reference`` (bool: the row is
    outside every window of the withdrawals in the district and its neighbours) and ``period`` (int: how many
    spells of such windows closed before the row, the district-period of the fixed effects).
    ``withdrawals`` are the ones kept; ``notes`` say which were dropped or partly outside the panel.
    """

    frame: pd.DataFrame
    withdrawals: pd.DataFrame
    notes: list[str]


@dataclass(frozen=True)
class StudyResult:
    """A coefficient table and the notes about what was dropped or could not be estimated."""

    table: pd.DataFrame
    notes: list[str]


# ------------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class _Panel:
    """The panel as integer codes: row r is district ``d[r]`` (index into ``districts``) at week ``t[r]``
    (weeks since the first Monday), ``day[r]`` days since 1970-01-01."""

    districts: np.ndarray
    day0: int
    n_weeks: int
    d: np.ndarray
    t: np.ndarray
    day: np.ndarray
    y: np.ndarray
    major: np.ndarray

    @property
    def n_districts(self) -> int:
        return len(self.districts)


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{name} lacks columns {missing}")


def _days(values: pd.Series, name: str) -> np.ndarray:
    """Days since 1970-01-01 of datetimes, checked to be Mondays (1970-01-05 was a Monday)."""
    stamps = pd.to_datetime(values).to_numpy()
    if np.isnat(stamps).any():
        raise ValueError(f"{name}.week_start has missing dates")
    days = stamps.astype("datetime64[D]").astype(np.int64)
    if np.any((days - 4) % _WEEK != 0):
        raise ValueError(f"{name}.week_start must be Mondays")
    return days


def _read_panel(panel: pd.DataFrame) -> _Panel:
    _require(panel, ["district_code", "week_start", "y", "major"], "panel")
    if panel.empty:
        raise ValueError("the panel is empty")
    districts, d = np.unique(panel["district_code"].astype(str).to_numpy(), return_inverse=True)
    day = _days(panel["week_start"], "panel")
    day0 = int(day.min())
    t = (day - day0) // _WEEK
    n_weeks = int(t.max()) + 1
    cells = np.bincount(d * n_weeks + t, minlength=len(districts) * n_weeks)
    if len(panel) != len(districts) * n_weeks or np.any(cells != 1):
        raise ValueError("panel must be a full rectangle: every district at every consecutive Monday, once")
    y = panel["y"].to_numpy(dtype=np.float64)
    major = panel["major"].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ValueError("panel.y must be finite and >= 0")
    if not np.all(np.isin(major, (0.0, 1.0))):
        raise ValueError("panel.major must be 0 or 1")
    return _Panel(districts, day0, n_weeks, d.astype(np.int64), t.astype(np.int64), day, y, major)


def _read_withdrawals(withdrawals: pd.DataFrame, p: _Panel, window: int) -> tuple[pd.DataFrame, list[str]]:
    """The withdrawals with at least one panel week in [-window, window), sorted by id, with their district
    code ``d`` and day ``day``; notes for the dropped ones and the ones partly outside the panel."""
    _require(withdrawals, ["withdrawal_id", "district_code", "week_start", "kind", "label"], "withdrawals")
    if window < 1:
        raise ValueError("window must be >= 1 week")
    w = pd.DataFrame({"withdrawal_id": withdrawals["withdrawal_id"].astype(str).to_numpy(),
                      "district_code": withdrawals["district_code"].astype(str).to_numpy(),
                      "kind": withdrawals["kind"].astype(str).to_numpy(),
                      "label": withdrawals["label"].astype(str).to_numpy(),
                      "day": _days(withdrawals["week_start"], "withdrawals") if len(withdrawals) else
                      np.zeros(0, dtype=np.int64)})
    if w["withdrawal_id"].duplicated().any():
        raise ValueError(f"duplicate withdrawal_id: {sorted(w.loc[w['withdrawal_id'].duplicated(), 'withdrawal_id'])}")
    w = w.sort_values("withdrawal_id", ignore_index=True)
    pos = np.searchsorted(p.districts, w["district_code"].to_numpy())
    known = (pos < p.n_districts) & (p.districts[np.minimum(pos, p.n_districts - 1)] == w["district_code"].to_numpy())
    w["d"] = np.where(known, pos, -1)
    start = (w["day"].to_numpy() - p.day0) // _WEEK - window
    end = start + 2 * window                               # week indices [start, end) of the window
    observed = np.minimum(end, p.n_weeks) - np.maximum(start, 0)
    notes = [f"withdrawal {i} dropped: district {c} is not in the panel"
             for i, c in w.loc[~known, ["withdrawal_id", "district_code"]].itertuples(index=False)]
    outside = known & (observed <= 0)
    notes += [f"withdrawal {i} dropped: no panel week in its [-{window}, {window}) window"
              for i in w.loc[outside, "withdrawal_id"]]
    partial = known & (observed > 0) & (observed < 2 * window)
    notes += [f"withdrawal {i}: only {n} of the {2 * window} weeks of its window are in the panel"
              for i, n in zip(w.loc[partial, "withdrawal_id"], observed[partial])]
    kept = w[known & (observed > 0)].reset_index(drop=True)
    return kept, notes


def _neighbour_pairs(neighbours: pd.DataFrame, p: _Panel) -> pd.DataFrame:
    """Symmetric (src, dst) district codes: dst is exposed to withdrawals in src."""
    _require(neighbours, ["district_code", "neighbour_code"], "neighbours")
    codes = pd.Series(np.arange(p.n_districts), index=p.districts)
    a = codes.reindex(neighbours["district_code"].astype(str).to_numpy()).to_numpy()
    b = codes.reindex(neighbours["neighbour_code"].astype(str).to_numpy()).to_numpy()
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok].astype(np.int64), b[ok].astype(np.int64)
    pairs = pd.DataFrame({"src": np.concatenate([a, b]), "dst": np.concatenate([b, a])})
    return pairs[pairs["src"] != pairs["dst"]].drop_duplicates(ignore_index=True)


# ---------------------------------------------------------------------------------------------- exposure


def _nearest(p: _Panel, target: np.ndarray, day: np.ndarray, which: np.ndarray,
             window: int) -> tuple[np.ndarray, np.ndarray]:
    """For each panel row, the nearest event (``target`` district, ``day``, index ``which``) with the row's
    relative week in [-window, window): (rel as float, NaN if none; event index, -1 if none). Ties in |rel| go
    to rel >= 0, then to the smaller index. Vectorised: every (row, event of the row's district) pair is
    enumerated with repeat / cumsum, then the best pair per row kept by a lexicographic sort."""
    n = len(p.d)
    rel_out, which_out = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
    if len(target) == 0:
        return rel_out, which_out
    order = np.argsort(target, kind="stable")
    per_district = np.bincount(target, minlength=p.n_districts)
    first = np.concatenate([[0], np.cumsum(per_district)[:-1]])
    n_pairs = per_district[p.d]
    row = np.repeat(np.arange(n), n_pairs)
    within = np.arange(len(row)) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    event = order[first[p.d][row] + within]
    rel = (p.day[row] - day[event]) // _WEEK
    inside = (rel >= -window) & (rel < window)
    row, event, rel = row[inside], event[inside], rel[inside]
    best = np.lexsort((which[event], 2 * np.abs(rel) + (rel < 0), row))
    row, event, rel = row[best], event[best], rel[best]
    head = np.concatenate([[True], row[1:] != row[:-1]]) if len(row) else np.zeros(0, dtype=bool)
    rel_out[row[head]] = rel[head]
    which_out[row[head]] = which[event[head]]
    return rel_out, which_out


def _own_and_neighbour(p: _Panel, nb: pd.DataFrame, w: pd.DataFrame, window: int):
    """(own rel, own index, nbr rel, nbr index): nearest own withdrawal of ``w`` within the window, and the
    nearest neighbouring one for rows without own exposure. Indices are positions in ``w``."""
    idx = np.arange(len(w))
    d, day = w["d"].to_numpy(dtype=np.int64), w["day"].to_numpy(dtype=np.int64)
    own_rel, own_w = _nearest(p, d, day, idx, window)
    spread = pd.DataFrame({"d": d, "day": day, "which": idx}).merge(nb, left_on="d", right_on="src")
    nbr_rel, nbr_w = _nearest(p, spread["dst"].to_numpy(dtype=np.int64), spread["day"].to_numpy(dtype=np.int64),
                              spread["which"].to_numpy(dtype=np.int64), window)
    has_own = ~np.isnan(own_rel)
    nbr_rel[has_own], nbr_w[has_own] = np.nan, -1
    return own_rel, own_w, nbr_rel, nbr_w


def _spells(p: _Panel, nb: pd.DataFrame, w: pd.DataFrame, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (inside, period). ``inside``: the row is within [-window, window) of a withdrawal of ``w`` in
    its district or a neighbouring one. ``period``: the number of spells (unions of overlapping such windows)
    of the district that closed before the row. Vectorised: windows sorted by district and start, a new spell
    wherever a start passes the running maximum of the ends before it."""
    own = pd.DataFrame({"d": w["d"].to_numpy(), "day": w["day"].to_numpy()})
    spread = own.merge(nb, left_on="d", right_on="src")[["dst", "day"]].rename(columns={"dst": "d"})
    win = pd.concat([own, spread], ignore_index=True)
    if win.empty:
        return np.zeros(len(p.d), dtype=bool), np.zeros(len(p.d), dtype=np.int64)
    win = win.assign(start=win["day"] - window * _WEEK, end=win["day"] + window * _WEEK).sort_values(["d", "start"])
    reach = win.groupby("d")["end"].cummax()
    before = reach.groupby(win["d"]).shift()
    spell = (before.isna() | (win["start"] > before)).cumsum().to_numpy()
    spells = win.assign(spell=spell).groupby("spell").agg(d=("d", "first"), start=("start", "min"), end=("end", "max"))
    # Row and spell positions as one sortable key: district first, then day.
    span = int(max(p.day.max(), spells["end"].max()) - min(p.day.min(), spells["start"].min())) + 1
    base = int(min(p.day.min(), spells["start"].min()))
    start_key = spells["d"].to_numpy() * span + (spells["start"].to_numpy() - base)
    row_key = p.d * span + (p.day - base)
    started = np.searchsorted(start_key, row_key, side="right")          # spells started by the row (cumulative)
    first = np.searchsorted(start_key, p.d * span, side="left")          # the district's first spell
    k = started - first                                                  # the district's spells started by then
    last_end = spells["end"].to_numpy()[np.maximum(started - 1, 0)]
    inside = (k > 0) & (p.day < last_end)
    return inside, (k - inside).astype(np.int64)


def exposure(panel: pd.DataFrame, withdrawals: pd.DataFrame, neighbours: pd.DataFrame, window: int = 26) -> Exposure:
    """Relative week of every panel row to the nearest withdrawal in its district (own scope) and, for rows
    without one within the window, in a neighbouring district (neighbours scope).

    ``rel`` = (row Monday - withdrawal Monday) / 7, in [-window, window); 0 = first week without the force.
    Overlaps: the row is counted once, with the nearest withdrawal (ties to the one already past, then to the
    smallest id); see the module docstring. ``reference`` marks the rows outside every window of the
    withdrawals in the district and its neighbours; ``period`` counts the spells of windows closed before.
    """
    p = _read_panel(panel)
    kept, notes = _read_withdrawals(withdrawals, p, window)
    nb = _neighbour_pairs(neighbours, p)
    own_rel, own_w, nbr_rel, nbr_w = _own_and_neighbour(p, nb, kept, window)
    ids = np.append(kept["withdrawal_id"].to_numpy(dtype=object), pd.NA)
    homes = np.append(kept["district_code"].to_numpy(dtype=object), pd.NA)
    frame = pd.DataFrame({
        "district_code": panel["district_code"].to_numpy(),
        "week_start": panel["week_start"].to_numpy(),
        "own_rel": pd.array(own_rel, dtype="Int64"),
        "own_withdrawal": pd.array(ids[own_w], dtype="string"),
        "nbr_rel": pd.array(nbr_rel, dtype="Int64"),
        "nbr_withdrawal": pd.array(ids[nbr_w], dtype="string"),
        "nbr_district": pd.array(homes[nbr_w], dtype="string"),
    }, index=panel.index)
    inside, period = _spells(p, nb, kept, window)
    frame["reference"], frame["period"] = ~inside, period
    return Exposure(frame, kept.drop(columns=["d", "day"]).assign(week_start=pd.to_datetime(kept["day"], unit="D")), notes)


@dataclass(frozen=True)
class _Assignment:
    """Rows of one fit of one group: treatment (window W), exclusion (window E) and the rows kept."""

    own_rel: np.ndarray      # NaN unless own-treated
    own_w: np.ndarray        # position in the kept withdrawals, -1 if none
    nbr_rel: np.ndarray      # NaN unless neighbour-treated
    nbr_w: np.ndarray
    keep: np.ndarray         # span & (treated & not contaminated | reference)
    reference: np.ndarray
    unit: np.ndarray         # district-period code of the fixed effects
    notes: list[str]

    @property
    def own(self) -> np.ndarray:
        return ~np.isnan(self.own_rel)

    @property
    def nbr(self) -> np.ndarray:
        return ~np.isnan(self.nbr_rel)


def _assign(p: _Panel, nb: pd.DataFrame, kept: pd.DataFrame, ids: Sequence[str], window: int,
            exclusion: int, spells: tuple[np.ndarray, np.ndarray]) -> _Assignment:
    """Treatment of the rows by the group ``ids`` within ``window`` and the rows a fit keeps (module docstring);
    ``spells`` is ``_spells(p, nb, kept, exclusion)``, the same for every group."""
    in_group = kept["withdrawal_id"].isin(list(ids)).to_numpy()
    group, others = kept[in_group], kept[~in_group]
    position = np.flatnonzero(in_group)
    own_rel, own_w, nbr_rel, nbr_w = _own_and_neighbour(p, nb, group, window)
    own_e = own_rel if exclusion == window else _own_and_neighbour(p, nb, group, exclusion)[0]
    nbr_rel = np.where(np.isnan(own_e), nbr_rel, np.nan)
    own_w, nbr_w = np.where(own_w >= 0, position[own_w], -1), np.where(np.isnan(nbr_rel), -1, position[nbr_w])
    oth_own, _, oth_nbr, _ = _own_and_neighbour(p, nb, others, exclusion)
    contaminated = ~np.isnan(oth_own) | ~np.isnan(oth_nbr)
    inside, period = spells
    reference = ~inside
    unit = np.unique(p.d * (int(period.max()) + 1) + period, return_inverse=True)[1]
    days = group["day"].to_numpy()
    span = (p.day >= days.min() - (exclusion + LEAD_WEEKS) * _WEEK) & (p.day < days.max() + exclusion * _WEEK)
    treated = ~np.isnan(own_rel) | ~np.isnan(nbr_rel)
    keep = span & ((treated & ~contaminated) | reference)
    notes = []
    lost = span & treated & contaminated
    if lost.any():
        notes.append(f"{int(lost.sum())} treated rows dropped: within {exclusion} weeks of a withdrawal outside the group")
    between = span & ~treated & ~reference
    if between.any():
        notes.append(f"{int(between.sum())} rows dropped: inside a {exclusion}-week window but not treated "
                     f"within {window} weeks by the group")
    own_rel, own_w = np.where(keep, own_rel, np.nan), np.where(keep, own_w, -1)
    nbr_rel, nbr_w = np.where(keep, nbr_rel, np.nan), np.where(keep, nbr_w, -1)
    return _Assignment(own_rel, own_w, nbr_rel, nbr_w, keep, reference & keep, unit, notes)


def _groups(kept: pd.DataFrame, level: str) -> list[tuple[str, list[str], str]]:
    """(group name, withdrawal ids, label) of every group at ``level``."""
    if level == "pooled":
        return [("pooled", kept["withdrawal_id"].tolist(), f"all withdrawals ({len(kept)})")] if len(kept) else []
    if level == "kind":
        return [(str(kind), g["withdrawal_id"].tolist(), "; ".join(g["label"]))
                for kind, g in kept.groupby("kind", sort=True)]
    if level == "withdrawal":
        return [(i, [i], label) for i, label in zip(kept["withdrawal_id"], kept["label"])]
    raise ValueError(f"unknown grouping {level!r}: expected one of {LEVELS}")


@dataclass(frozen=True)
class _Fit:
    """One fit: per column the coefficient (NaN when not estimated) and why not, and the rows behind it."""

    beta: np.ndarray
    cov: np.ndarray
    errors: str
    df: float                # degrees of freedom of the intervals (inf: normal)
    status: list[str]
    counted: np.ndarray      # rows of the fit, plus those dropped because their indicator has no event
    notes: list[str]


def _identified(p: _Panel, use: np.ndarray, X: np.ndarray, unit: np.ndarray, ok: np.ndarray, status: list[str],
                dropped: dict[str, set]) -> tuple[np.ndarray, np.ndarray]:
    """Drop, until none is left, district-periods and weeks with no event and the rows of indicators without
    events (``ok`` / ``status`` updated). Returns (rows used, rows dropped with their event-less indicator)."""
    n_units = int(unit.max()) + 1
    separated = np.zeros_like(use)
    while True:
        unit_y = np.bincount(unit[use], weights=p.y[use], minlength=n_units)
        zero_u = (np.bincount(unit[use], minlength=n_units) > 0) & (unit_y == 0)
        week_y = np.bincount(p.t[use], weights=p.y[use], minlength=p.n_weeks)
        zero_w = (np.bincount(p.t[use], minlength=p.n_weeks) > 0) & (week_y == 0)
        dropped["units"] |= set(np.flatnonzero(zero_u).tolist())
        dropped["weeks"] |= set(np.flatnonzero(zero_w).tolist())
        now = use & ~zero_u[unit] & ~zero_w[p.t]
        rows_in, events_in = X[now].sum(axis=0), X[now].T @ p.y[now]
        no_event = ok & (rows_in > 0) & (events_in == 0)
        hit = now & (X[:, no_event].sum(axis=1) > 0)
        separated |= hit
        now &= ~hit
        for j in np.flatnonzero(no_event):
            ok[j], status[j] = False, "no event in its rows (IRR -> 0): not estimable"
        if np.array_equal(now, use):
            return use, separated
        use = now


def _fit(p: _Panel, keep: np.ndarray, X: np.ndarray, names: Sequence[str], own: np.ndarray, unit: np.ndarray,
         context: str) -> _Fit:
    """Identification checks (event-less district-periods / weeks / indicators, indicators without rows or
    collinear with the fixed effects, separated rows) and the Poisson FE fit on the ``keep`` rows. ``unit``:
    district-period codes; ``own`` marks own-treated rows (a single treated district: model-based errors)."""
    k = X.shape[1]
    ok, status = np.ones(k, dtype=bool), [""] * k
    use, counted, notes = keep.copy(), np.zeros_like(keep), []
    dropped: dict[str, set] = {"units": set(), "weeks": set()}
    beta, cov = np.full(k, np.nan), np.full((k, k), np.nan)
    result, n_separated = None, 0
    for _ in range(10):
        use, separated = _identified(p, use, X, unit, ok, status, dropped)
        counted |= separated
        for j in np.flatnonzero(ok & (X[use].sum(axis=0) == 0)):
            ok[j], status[j] = False, "no rows in the fit"
        if use.sum() == 0 or not ok.any():
            result = None
            break
        u = np.unique(unit[use], return_inverse=True)[1]
        t = np.unique(p.t[use], return_inverse=True)[1]
        cols = np.flatnonzero(ok)
        xu = X[use][:, cols]
        # Collinearity with the fixed effects (or between indicators given them): rank-revealing pivoted
        # Cholesky of the Gram matrix of the projected unit-norm columns.
        unit_norm = xu / np.linalg.norm(xu, axis=0)
        projected = TwoWay(u, t, int(u.max()) + 1, int(t.max()) + 1).residualiser(np.ones(len(u)))(unit_norm)
        _, piv, rank, _ = lapack.dpstrf(projected.T @ projected, tol=1e-12)
        for j in cols[piv[rank:] - 1]:
            ok[j], status[j] = False, "collinear with the fixed effects"
        cols = np.flatnonzero(ok)
        if len(cols) == 0:
            result = None
            break
        cluster = np.unique(p.d[use], return_inverse=True)[1]
        result = poisson_fe(p.y[use], X[use][:, cols], u, t, cluster)
        if not result.separated.any():
            break
        # The fitted level of a district-period runs to 0 (e.g. its rows outside the windows have no event
        # while its bins have some): the change is not measurable against it, drop the district-period.
        gone = use & np.isin(unit, unit[use][result.separated])
        n_separated += int(np.unique(unit[gone]).size)
        counted |= gone & (X.sum(axis=1) > 0)
        use &= ~gone
    counted |= use
    if dropped["units"]:
        codes = np.unique(p.districts[p.d[np.isin(unit, list(dropped["units"]))]])
        notes.append(f"{context}: dropped {len(dropped['units'])} district-period(s) with no violent event in the rows "
                     f"used (fixed effect not identified), in {', '.join(codes[:10])}{' ...' if len(codes) > 10 else ''}")
    if dropped["weeks"]:
        notes.append(f"{context}: dropped {len(dropped['weeks'])} week(s) with no violent event in any district used "
                     f"(week FE not identified)")
    if n_separated:
        notes.append(f"{context}: dropped {n_separated} district-period(s) whose fitted level ran to 0 (separation: "
                     "no event in their rows outside the windows)")
    notes += [f"{context}: {names[j]}: {status[j]}" for j in range(k) if status[j]]
    n_treated = len(np.unique(p.d[use & own]))
    errors = CLUSTERED if n_treated > 1 else MODEL_BASED
    df = len(np.unique(p.d[use])) - 1.0 if errors == CLUSTERED else np.inf
    if result is None:
        return _Fit(beta, cov, errors, df, status, counted, notes)
    if not result.converged:
        notes.append(f"{context}: the Poisson fit did not converge")
    beta[cols] = result.beta
    cov[np.ix_(cols, cols)] = result.cov_cluster if errors == CLUSTERED else result.cov_model
    if n_treated == 1:
        notes.append(f"{context}: a single district is treated in its own scope: model-based, "
                     "overdispersion-scaled errors (a clustered interval is unreliable with one treated cluster)")
    elif n_treated < FEW_TREATED:
        notes.append(f"{context}: clustered errors rest on {n_treated} treated districts: the intervals may be "
                     "too narrow")
    return _Fit(beta, cov, errors, df, status, counted, notes)


def _interval(estimate: np.ndarray, variance: np.ndarray, df: float = np.inf) -> dict[str, np.ndarray]:
    """exp(estimate) with its 95% interval and the two-sided p-value (t with ``df`` degrees of freedom;
    normal when infinite)."""
    se = np.sqrt(variance)
    law = stats.norm if np.isinf(df) else stats.t(df)
    z = float(law.ppf(0.975))
    with np.errstate(over="ignore", invalid="ignore"):
        return {"irr": np.exp(estimate), "ci_low": np.exp(estimate - z * se), "ci_high": np.exp(estimate + z * se),
                "p_value": 2.0 * law.sf(np.abs(estimate / se))}


def _row_stats(p: _Panel, rows: np.ndarray) -> tuple[int, int, float]:
    return int(rows.sum()), len(np.unique(p.d[rows])), float(p.y[rows].sum())


# ------------------------------------------------------------------------------------------ event study


def _bins(window: int, bin_weeks: int) -> list[tuple[int, int]]:
    """[start, end) of the bins anchored at 0, cut at +-window."""
    n = -(-window // bin_weeks)
    starts = np.arange(-n, n) * bin_weeks
    return [(int(max(a, -window)), int(min(a + bin_weeks, window))) for a in starts]


def _bin_index(rel: np.ndarray, window: int, bin_weeks: int) -> np.ndarray:
    """Bin of each relative week (-1 where NaN)."""
    n = -(-window // bin_weeks)
    return np.where(np.isnan(rel), -1, np.floor(np.nan_to_num(rel) / bin_weeks) + n).astype(np.int64)


def event_study(panel: pd.DataFrame, withdrawals: pd.DataFrame, neighbours: pd.DataFrame, *, window: int = 26,
                bin_weeks: int = 4, group: str | None = None) -> StudyResult:
    """Event study: Poisson QMLE of weekly violent events ``y`` on district(-period) FE + week FE + indicators
    of the relative-week bins of own exposure and of neighbour exposure (module docstring for bins and rows).

    The reference is the district-weeks outside every window (of any withdrawal, in the district and its
    neighbours), the district's level being the one of its period just before the window, so the pre-bins are
    the placebo / pre-trend check. ``group``: None or "pooled" (one fit, all withdrawals), "kind" (one fit per kind, only its
    withdrawals treated, the other withdrawals' windows dropped) or "withdrawal" (one fit per withdrawal).

    Table, one row per group x scope x bin: scope ("district" / "neighbours"), group ("pooled", a kind or a
    withdrawal_id), rel_start, rel_end (weeks, end excluded), irr (exp(coef): expected weekly events in the bin
    relative to the reference, given the week effects), ci_low, ci_high (95%), p_value, errors, treated_rows,
    treated_districts, events (sum of y over those rows).
    """
    p = _read_panel(panel)
    kept, notes = _read_withdrawals(withdrawals, p, window)
    nb = _neighbour_pairs(neighbours, p)
    bins = _bins(window, bin_weeks)
    names = [f"{scope} [{a}, {b})" for scope in SCOPES for a, b in bins]
    rows = []
    spells = _spells(p, nb, kept, window)
    for name, ids, _ in _groups(kept, "pooled" if group is None else group):
        context = f"event study, {name}"
        a = _assign(p, nb, kept, ids, window, window, spells)
        notes += [f"{context}: {n}" for n in a.notes]
        X = np.zeros((len(p.d), 2 * len(bins)))
        for offset, rel in ((0, a.own_rel), (len(bins), a.nbr_rel)):
            idx = _bin_index(rel, window, bin_weeks)
            hit = np.flatnonzero(idx >= 0)
            X[hit, offset + idx[hit]] = 1.0
        fit = _fit(p, a.keep, X, names, a.own, a.unit, context)
        notes += fit.notes
        est = _interval(fit.beta, np.diag(fit.cov), fit.df)
        for j, (scope, (lo, hi)) in enumerate((s, b) for s in SCOPES for b in bins):
            n_rows, n_districts, events = _row_stats(p, fit.counted & (X[:, j] > 0))
            rows.append({"scope": scope, "group": name, "rel_start": lo, "rel_end": hi,
                         **{key: float(v[j]) for key, v in est.items()}, "errors": fit.errors,
                         "treated_rows": n_rows, "treated_districts": n_districts, "events": events})
    columns = ["scope", "group", "rel_start", "rel_end", "irr", "ci_low", "ci_high", "p_value", "errors",
               "treated_rows", "treated_districts", "events"]
    return StudyResult(pd.DataFrame(rows, columns=columns), notes)


# -------------------------------------------------------------------------------------- window effects


def window_effects(panel: pd.DataFrame, withdrawals: pd.DataFrame, neighbours: pd.DataFrame, *,
                   windows: Sequence[int] = (4, 13, 26),
                   by: Sequence[str] = ("pooled", "kind", "withdrawal")) -> StudyResult:
    """Headline difference-in-differences: for each window W, the W weeks after a withdrawal against the W
    weeks before in the same districts, relative to the districts without a change (week FE).

    Fit per W and group: y ~ district(-period) FE + week FE + post_own (0 <= rel < W) + pre_own (-W <= rel < 0)
    + post_nbr + pre_nbr; IRR = exp(b_post - b_pre), its 95% CI and p-value from the delta method on that
    linear combination. Rows within E = max(windows) weeks of a withdrawal but outside its W-window are
    dropped (the reference is the same, the rows outside every E-window, for every W); only the group's rows are
    treated,
    other withdrawals' E-windows are dropped. ``by`` in "pooled", "kind", "withdrawal".

    Columns: scope, group, level, window_weeks, irr (ratio of the expected weekly events after to before,
    relative to the week effects), ci_low, ci_high, p_value, errors ("clustered by district" or, for fits
    with a single treated district such as a per-withdrawal fit, "model-based, overdispersion-scaled"),
    n_withdrawals, treated_districts (districts with a before or after row in that scope), mean_before,
    mean_after (raw events per district-week in the before and after rows of the fit), label.
    """
    windows = sorted({int(w) for w in windows})
    exclusion = windows[-1]
    p = _read_panel(panel)
    kept, notes = _read_withdrawals(withdrawals, p, exclusion)
    nb = _neighbour_pairs(neighbours, p)
    names = ["post_own", "pre_own", "post_nbr", "pre_nbr"]
    spells = _spells(p, nb, kept, exclusion)
    rows = []
    for level in by:
        for name, ids, label in _groups(kept, level):
            for w in windows:
                context = f"window effects, {name}, {w} weeks"
                a = _assign(p, nb, kept, ids, w, exclusion, spells)
                notes += [f"{context}: {n}" for n in a.notes]
                X = np.column_stack([a.own & (a.own_rel >= 0), a.own & (a.own_rel < 0),
                                     a.nbr & (a.nbr_rel >= 0), a.nbr & (a.nbr_rel < 0)]).astype(np.float64)
                fit = _fit(p, a.keep, X, names, a.own, a.unit, context)
                notes += fit.notes
                for scope, (post, pre), which in (("district", (0, 1), a.own_w), ("neighbours", (2, 3), a.nbr_w)):
                    contrast = fit.beta[post] - fit.beta[pre]
                    variance = fit.cov[post, post] + fit.cov[pre, pre] - 2.0 * fit.cov[post, pre]
                    est = _interval(np.array([contrast]), np.array([variance]), fit.df)
                    after, before = fit.counted & (X[:, post] > 0), fit.counted & (X[:, pre] > 0)
                    either = after | before
                    rows.append({"scope": scope, "group": name, "level": level, "window_weeks": w,
                                 **{key: float(v[0]) for key, v in est.items()}, "errors": fit.errors,
                                 "n_withdrawals": len(np.unique(which[either])),
                                 "treated_districts": len(np.unique(p.d[either])),
                                 "mean_before": float(p.y[before].mean()) if before.any() else np.nan,
                                 "mean_after": float(p.y[after].mean()) if after.any() else np.nan,
                                 "label": label})
    columns = ["scope", "group", "level", "window_weeks", "irr", "ci_low", "ci_high", "p_value", "errors",
               "n_withdrawals", "treated_districts", "mean_before", "mean_after", "label"]
    return StudyResult(pd.DataFrame(rows, columns=columns), notes)


# -------------------------------------------------------------------------------------- hazard ratios


def _previous_sum(p: _Panel, weeks: int) -> np.ndarray:
    """Per row, the district's events of weeks t-weeks .. t-1 (NaN when the panel starts less than ``weeks``
    weeks before t): a cumulative sum along each district's weeks, differenced."""
    grid = np.zeros((p.n_districts, p.n_weeks))
    grid[p.d, p.t] = p.y
    cum = np.concatenate([np.zeros((p.n_districts, 1)), np.cumsum(grid, axis=1)], axis=1)
    past = np.full((p.n_districts, p.n_weeks), np.nan)
    past[:, weeks:] = cum[:, weeks:-1] - cum[:, :-weeks - 1]
    return past[p.d, p.t]


def hazard_ratios(panel: pd.DataFrame, withdrawals: pd.DataFrame, neighbours: pd.DataFrame,
                  windows: Sequence[int] = (4, 13, 26)) -> StudyResult:
    """Discrete-time hazard of a major attack in the W weeks after a withdrawal, own and neighbours.

    Binomial GLM (statsmodels), complementary log-log link, of ``major`` (a major attack in the row's week) on
    an intercept, post_own (0 <= rel < W), post_nbr and log1p(the district's violent events in weeks t-52 ..
    t-1); rows with less than 52 weeks of panel history are dropped. exp(coef) of a cloglog is the ratio of the
    weekly hazards (95% intervals from t with G - 1 degrees of freedom, G districts). The reference is the rows outside every E-window (E = max(windows)), as in
    :func:`window_effects`; the before-window rows and the rows within E but after the W weeks are not used. Errors clustered by district. An indicator
    whose rows have no major attack is reported NaN (its rows dropped) with a note.

    Columns: scope, window_weeks, hazard_ratio, ci_low, ci_high, p_value, treated_rows,
    major_attack_weeks_treated.
    """
    import statsmodels.api as sm  # a second to import; only this fit of the module uses it

    windows = sorted({int(w) for w in windows})
    exclusion = windows[-1]
    p = _read_panel(panel)
    kept, notes = _read_withdrawals(withdrawals, p, exclusion)
    nb = _neighbour_pairs(neighbours, p)
    history = _previous_sum(p, HISTORY_WEEKS)
    rows = []
    for w in windows:
        context = f"hazard, {w} weeks"
        table = {s: {"scope": s, "window_weeks": w, "hazard_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                     "p_value": np.nan, "treated_rows": 0, "major_attack_weeks_treated": 0.0} for s in SCOPES}
        if len(kept):
            a = _assign(p, nb, kept, kept["withdrawal_id"].tolist(), w, exclusion, _spells(p, nb, kept, exclusion))
            notes += [f"{context}: {n}" for n in a.notes]
            post = {"district": a.own & (a.own_rel >= 0), "neighbours": a.nbr & (a.nbr_rel >= 0)}
            use = a.keep & (post["district"] | post["neighbours"] | a.reference) & ~np.isnan(history)
            columns = []
            for scope in SCOPES:
                treated = use & post[scope]
                attacks = float(p.major[treated].sum())
                table[scope].update(treated_rows=int(treated.sum()), major_attack_weeks_treated=attacks)
                if not treated.any():
                    notes.append(f"{context}: {scope}: no treated row: hazard ratio not estimable")
                elif attacks == 0:
                    notes.append(f"{context}: {scope}: no major attack in its {int(treated.sum())} treated rows: "
                                 "hazard ratio not estimable (reported NaN)")
                    use &= ~treated
                else:
                    columns.append(scope)
            if columns and 0 < p.major[use].sum() < use.sum():
                X = np.column_stack([np.ones(int(use.sum()))] + [post[s][use].astype(np.float64) for s in columns]
                                    + [np.log1p(history[use])])
                family = sm.families.Binomial(link=sm.families.links.CLogLog())
                result = sm.GLM(p.major[use], X, family=family).fit(cov_type="cluster",
                                                                      cov_kwds={"groups": p.d[use]})
                if not result.converged:
                    notes.append(f"{context}: the cloglog fit did not converge")
                beta, cov = np.asarray(result.params), np.asarray(result.cov_params())
                df = len(np.unique(p.d[use])) - 1.0
                for j, scope in enumerate(columns, start=1):
                    est = _interval(beta[[j]], cov[[j], [j]], df)
                    table[scope].update(hazard_ratio=float(est["irr"][0]), ci_low=float(est["ci_low"][0]),
                                        ci_high=float(est["ci_high"][0]), p_value=float(est["p_value"][0]))
        rows += [table[s] for s in SCOPES]
    columns = ["scope", "window_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value", "treated_rows",
               "major_attack_weeks_treated"]
    return StudyResult(pd.DataFrame(rows, columns=columns), notes)


# ------------------------------------------------------------------------------------------- sentences


def _number(x: float) -> str:
    """Two significant figures, at least one decimal below 10 (1.4, 0.93, 12)."""
    if not np.isfinite(x) or x <= 0:
        return f"{x:g}"
    decimals = max(0, 1 - int(np.floor(np.log10(x))))
    return f"{x:.{decimals}f}"


def sentences(window_table: pd.DataFrame) -> list[str]:
    """One plain-English line per pooled row of :func:`window_effects`' table (``.table``), in table order.

    When the 95% CI includes 1 the line says "no measurable change"; a NaN estimate says it could not be
    estimated.
    """
    pooled = window_table[window_table["group"] == "pooled"]
    lines = []
    for row in pooled.itertuples(index=False):
        w = int(row.window_weeks)
        if row.scope == "district":
            lead, where = f"In the {w} weeks after a force left a district", "there"
            same = "the same districts"
        else:
            lead, where = f"In the {w} weeks after a force left a neighbouring district", "in the districts next to it"
            same = "those districts"
        tail = "relative to districts without a change."
        if not np.isfinite(row.irr) or not np.isfinite(row.ci_low):
            lines.append(f"{lead}, the change in violent events {where} could not be estimated (too few events).")
        elif row.ci_low <= 1.0 <= row.ci_high:
            lines.append(f"{lead}, there was no measurable change in violent events {where} compared with the {w} "
                         f"weeks before (ratio {_number(row.irr)}, 95% CI {_number(row.ci_low)}-"
                         f"{_number(row.ci_high)}), {tail}")
        else:
            lines.append(f"{lead}, violent events {where} were {_number(row.irr)} times (95% CI "
                         f"{_number(row.ci_low)}-{_number(row.ci_high)}) what {same} saw in the {w} weeks before, "
                         f"{tail}")
    return lines
