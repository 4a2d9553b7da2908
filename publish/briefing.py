"""The weekly briefing's views beyond the score table (pure: frames in, plain records out for the template).

* :func:`driver_items`: each listed district's drivers as short labels with the feature's value this week
  against the district's usual level (its mean over the :data:`USUAL_WEEKS` weeks before), the direction
  the feature moves the risk, and the catalog's long description for the hover text;
* :func:`history_charts`: a small chart per listed district of the last :data:`HISTORY_WEEKS` weeks:
  observed violent events against the 1-week forecasts made for those weeks (as published; else the
  selection backtest's walk-forward forecasts) with their 80% intervals, and this week's forecast;
* :func:`deadliest_events`: the deadliest violent events of the week before the data cutoff, with the
  source's notes;
* :func:`headline_view`: how good the headline probability has been (Brier, AP) against the naive
  district-history rule and the base rate, champion marked.

Every week of a chart is a Monday; a week's observed events are those dated Monday to Sunday; a forecast
"for week w" was made with data dated before w's Monday.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.labels import short_label, value_kind
from features.schema import VIOLENT_EVENT_TYPES
from features.spec import FeatureSpec

#: Weeks of observed events and forecasts a district's chart shows (before the forecast week).
HISTORY_WEEKS = 26
#: Weeks whose mean is a feature's "usual" level for the district.
USUAL_WEEKS = 52
#: Deadliest events listed.
EVENTS_N = 8
#: Chart size, in CSS pixels, and the room kept at its bottom for the week axis.
CHART_WIDTH, CHART_HEIGHT = 216.0, 64.0
DRIVER_SLOTS = (1, 2, 3)


def _number(values: np.ndarray) -> np.ndarray:
    """Counts as integers, other values with one decimal (vectorised text)."""
    v = np.asarray(values, dtype=np.float64)
    whole = np.isclose(v, np.round(v))
    return np.where(whole, np.char.mod("%d", np.round(v).astype(np.int64)), np.char.mod("%.1f", v))


def _levels(kind: np.ndarray, value: np.ndarray, usual: np.ndarray) -> np.ndarray:
    """The value against the usual level in words: high/low for amounts, short/long for durations, yes/no
    for flags, nothing for the time of year."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(usual > 0, value / usual, np.where(value > 0, np.inf, 1.0))
    amount = np.select([ratio >= 2, ratio >= 1.25, ratio > 0.8, ratio > 0.4], ["very high", "high", "usual", "low"],
                       "very low")
    amount = np.where((usual == 0) & (value == 0), "none, as usual", amount)
    duration = np.select([ratio <= 0.5, ratio <= 0.8, ratio < 1.25, ratio < 2], ["very short", "short", "usual", "long"],
                         "very long")
    flag = np.where(value > 0, "yes", "no")
    return np.select([kind == "amount", kind == "duration", kind == "flag"], [amount, duration, flag], "")


def _driver_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per stored driver of ``rows`` (driver_k and, when present, driver_k_feature): row (position),
    k, district_code, feature (or NA), direction from the text's sign, description (the text unsigned)."""
    parts = []
    for k in DRIVER_SLOTS:
        text, feature = f"driver_{k}", f"driver_{k}_feature"
        if text not in rows.columns:
            continue
        names = rows[feature] if feature in rows.columns else pd.Series(pd.NA, index=rows.index)
        parts.append(pd.DataFrame({"row": np.arange(len(rows)), "k": k, "text": rows[text].to_numpy(object),
                                   "feature": names.to_numpy(object)}))
    columns = ["row", "k", "district_code", "feature", "direction", "description"]
    if not parts:
        return pd.DataFrame(columns=columns)
    long = pd.concat(parts, ignore_index=True)
    long = long[long["text"].notna()].reset_index(drop=True)
    text = long["text"].astype(str)
    long["district_code"] = rows["district_code"].to_numpy(object)[long["row"].to_numpy()]
    long["direction"] = np.where(text.str.startswith("- "), "down", "up")
    long["description"] = unsigned(text)
    return long[columns]


def _as_items(long: pd.DataFrame, labels, n_rows: int) -> list[list[dict]]:
    """Per row position, its drivers in order as {text (``labels``, aligned with ``long``), direction,
    description}."""
    out: list[list[dict]] = [[] for _ in range(n_rows)]
    ordered = long.assign(label=np.asarray(labels, dtype=object)).sort_values(["row", "k"])
    for r in ordered.itertuples():
        out[r.row].append({"text": r.label, "direction": r.direction, "description": r.description})
    return out


def stored_driver_items(rows: pd.DataFrame) -> list[list[dict]]:
    """The rows' stored driver texts as driver items (what a report without the feature table shows)."""
    long = _driver_rows(rows)
    return _as_items(long, long["description"], len(rows))


def driver_items(rows: pd.DataFrame, frame: pd.DataFrame, forecast_week: pd.Timestamp,
                 specs: list[FeatureSpec]) -> list[list[dict]]:
    """Per row of ``rows`` (district_code, driver_k, driver_k_feature), its drivers as
    {text, direction ("up" raises the risk, "down" lowers it), description}; a row published before the
    feature names were stored (or a feature the catalog no longer has) keeps its long text.

    ``frame``: the feature table's rows (district_code, week_start, features): the value is the forecast
    week's, the usual level the district's mean over the :data:`USUAL_WEEKS` weeks before it."""
    by_name = {s.name: s for s in specs}
    long = _driver_rows(rows)
    if long.empty:
        return [[] for _ in range(len(rows))]
    known = long["feature"].isin(list(by_name)) & long["feature"].isin(frame.columns)

    wanted = sorted(set(long.loc[known, "feature"]))
    start = pd.Timestamp(forecast_week) - pd.Timedelta(weeks=USUAL_WEEKS)
    near = frame.loc[frame["district_code"].isin(long["district_code"]) & (frame["week_start"] >= start)
                     & (frame["week_start"] <= forecast_week), ["district_code", "week_start", *wanted]]
    values = near.melt(id_vars=["district_code", "week_start"], var_name="feature", value_name="value")
    now = values[values["week_start"] == forecast_week].groupby(["district_code", "feature"])["value"].first()
    usual = values[values["week_start"] < forecast_week].groupby(["district_code", "feature"])["value"].mean()
    key = pd.MultiIndex.from_frame(long[["district_code", "feature"]].astype(object))
    value = now.reindex(key).to_numpy(np.float64)
    base = usual.reindex(key).to_numpy(np.float64)
    measured = known.to_numpy() & np.isfinite(value) & np.isfinite(base)

    feature_names = long["feature"].to_numpy(object)
    labels = np.array([short_label(by_name[f]) if ok else "" for f, ok in zip(feature_names, known)], dtype=object)
    kinds = np.array([value_kind(by_name[f]) if ok else "" for f, ok in zip(feature_names, known)], dtype=object)
    level = pd.Series(_levels(kinds, np.nan_to_num(value), np.nan_to_num(base)), dtype=object)
    label = pd.Series(labels, dtype=object)
    unit = np.where(kinds == "duration", " wk", "")
    shown = (pd.Series(_number(np.nan_to_num(value)), dtype=object) + unit + " vs usual "
             + pd.Series(_number(np.nan_to_num(base)), dtype=object))
    with_level = np.where(kinds == "flag", label + ": " + level,
                          np.where(kinds == "cyclic", label, label + ": " + level + " (" + shown + ")"))
    return _as_items(long, np.where(measured, with_level, np.where(known, labels, long["description"])), len(rows))


def history_frame(observed: pd.DataFrame, published: pd.DataFrame | None, hindcast: pd.DataFrame | None,
                  upcoming: pd.DataFrame, forecast_week: pd.Timestamp) -> pd.DataFrame:
    """One row per (district, week) of the :data:`HISTORY_WEEKS` weeks before ``forecast_week`` and the
    forecast week itself: events (observed; NaN for the forecast week), mean, lo, hi (the 1-week forecast
    and its 80% interval, NaN where none) and source ("published", "backtest", "this week" or "").

    ``observed``: district_code, week_start, events; ``published``: published 1-week rows (week_start,
    district_code, expected_events, events_lo80, events_hi80) or None; ``hindcast``: the champion's
    walk-forward forecasts (origin, district_code, mean, q10, q90) or None; ``upcoming``: this week's
    1-week rows (district_code, expected_events, events_lo80, events_hi80). Published forecasts win over
    backtest ones for the same week."""
    weeks = pd.date_range(end=pd.Timestamp(forecast_week), periods=HISTORY_WEEKS + 1, freq="7D")
    districts = pd.Index(upcoming["district_code"].astype(str).unique(), name="district_code")
    grid = pd.MultiIndex.from_product([districts, weeks], names=["district_code", "week_start"]).to_frame(index=False)
    columns = ["district_code", "week_start", "mean", "lo", "hi", "source"]

    def forecasts(frame: pd.DataFrame | None, week: str, mean: str, lo: str, hi: str, source: str) -> pd.DataFrame:
        if frame is None or len(frame) == 0:
            return pd.DataFrame(columns=columns)
        f = frame.rename(columns={week: "week_start", mean: "mean", lo: "lo", hi: "hi"})
        f = f.assign(week_start=pd.to_datetime(f["week_start"]).astype("datetime64[ns]"), source=source)
        return f[columns]

    now = upcoming.assign(week_start=pd.Timestamp(forecast_week))
    found = pd.concat([forecasts(now, "week_start", "expected_events", "events_lo80", "events_hi80", "this week"),
                       forecasts(published, "week_start", "expected_events", "events_lo80", "events_hi80", "published"),
                       forecasts(hindcast, "origin", "mean", "q10", "q90", "backtest")], ignore_index=True)
    found = found.assign(week_start=pd.to_datetime(found["week_start"]).astype("datetime64[ns]"),
                         district_code=found["district_code"].astype(str))
    found = found.drop_duplicates(["district_code", "week_start"], keep="first")
    grid = grid.assign(week_start=grid["week_start"].astype("datetime64[ns]"), district_code=grid["district_code"].astype(str))
    seen = observed.assign(week_start=pd.to_datetime(observed["week_start"]).astype("datetime64[ns]"),
                           district_code=observed["district_code"].astype(str))
    out = grid.merge(seen[["district_code", "week_start", "events"]], how="left").merge(found, how="left")
    out[["mean", "lo", "hi"]] = out[["mean", "lo", "hi"]].astype(np.float64)
    return out.assign(source=out["source"].fillna(""))


def history_charts(history: pd.DataFrame) -> dict[str, dict]:
    """Per district of :func:`history_frame`'s rows, the SVG pieces of its chart (coordinates in CSS pixels):
    bars (observed events), ticks (forecast intervals), dots (forecast means; this week's is highlighted),
    the y-axis maximum and a one-line text summary for screen readers and the hover."""
    h = history.sort_values(["district_code", "week_start"]).reset_index(drop=True)
    n_weeks = h.groupby("district_code")["week_start"].transform("size").to_numpy()
    position = h.groupby("district_code").cumcount().to_numpy()
    top = h[["events", "hi", "mean"]].max(axis=1, skipna=True).groupby(h["district_code"]).transform("max")
    top = np.maximum(top.fillna(0).to_numpy(np.float64), 1.0)
    plot_h = CHART_HEIGHT - 12.0
    step = CHART_WIDTH / n_weeks

    def y(v):
        return np.round(plot_h - plot_h * np.asarray(v, dtype=np.float64) / top, 1)

    h = h.assign(x=np.round(position * step, 1), w=np.round(step * 0.8, 1), cx=np.round((position + 0.4) * step, 1),
                 bar_y=y(h["events"].fillna(0)), y_mean=y(h["mean"]), y_lo=y(h["lo"]), y_hi=y(h["hi"]), top=top)
    h["bar_h"] = np.round(plot_h - h["bar_y"], 1)
    charts = {}
    for code, g in h.groupby("district_code", sort=False):
        past = g[g["source"] != "this week"]
        bars = past[past["events"] > 0][["x", "w", "bar_y", "bar_h"]].to_dict("records")
        drawn = g[g["mean"].notna()]
        marks = drawn[["cx", "y_mean", "y_lo", "y_hi", "source"]].to_dict("records")
        last = g.iloc[-1]
        covered = past[past["mean"].notna() & past["events"].notna()]
        inside = int(((covered["events"] >= covered["lo"]) & (covered["events"] <= covered["hi"])).sum())
        charts[str(code)] = {
            "bars": bars, "marks": marks, "top": _number(np.array([last["top"]]))[0], "baseline": plot_h,
            "width": CHART_WIDTH, "height": CHART_HEIGHT,
            "summary": (f"{int(past['events'].fillna(0).sum())} violent events in the last {len(past)} weeks; "
                        f"{len(covered)} weeks with a forecast, {inside} of them inside its 80% interval"),
            "has_backtest": bool((g["source"] == "backtest").any()),
        }
    return charts


def deadliest_events(events: pd.DataFrame, data_cutoff: pd.Timestamp, names: pd.Series, n: int = EVENTS_N) -> dict:
    """The ``n`` deadliest violent events of the districts of ``names`` (district_code -> name) dated in the
    week before ``data_cutoff`` (fatalities, then date), or of the 4 weeks before when that week has none: date, district,
    type, actors, fatalities and the source's notes (the column is left out when no event has notes)."""
    cutoff = pd.Timestamp(data_cutoff)
    violent = events[events["event_type"].isin(VIOLENT_EVENT_TYPES) & (events["event_date"] < cutoff)]
    if "district_code" in violent.columns:  # the report's districts only (one country's of a region)
        violent = violent[violent["district_code"].isin(names.index)]
    weeks = 1
    recent = violent[violent["event_date"] >= cutoff - pd.Timedelta(weeks=1)]
    if recent.empty:
        weeks = 4
        recent = violent[violent["event_date"] >= cutoff - pd.Timedelta(weeks=4)]
    recent = recent.assign(fatalities=recent["fatalities"].fillna(0)).sort_values(
        ["fatalities", "event_date", "event_id"], ascending=[False, False, True]).head(n)
    district = recent["district_code"].map(names) if "district_code" in recent.columns else recent["admin2"]
    actors = recent["actor1"].fillna("").astype(str) + np.where(recent["actor2"].notna(), " vs " + recent["actor2"].fillna("").astype(str), "")
    rows = pd.DataFrame({
        "date": recent["event_date"].dt.strftime("%Y-%m-%d"),
        "district": district.fillna(recent["admin2"]).fillna("unassigned").astype(str),
        "type": recent["event_type"].astype(str),
        "actors": actors,
        "fatalities": recent["fatalities"].astype("int64"),
        "notes": recent["notes"].astype(object).where(recent["notes"].notna(), ""),
    })
    return {"weeks": weeks, "rows": rows.to_dict("records"), "has_notes": bool((rows["notes"] != "").any()),
            "n_events": int(len(violent[violent["event_date"] >= cutoff - pd.Timedelta(weeks=weeks)]))}


def headline_view(headline: pd.DataFrame | None, champion: str | None) -> dict:
    """The headline probability's backtest scores (see :func:`publish.summary.headline_table`), champion
    (its recipe name) marked; the naive district-history rule and the base rate are rows of their own."""
    if headline is None or len(headline) == 0:
        return {"available": False, "rows": []}
    rule_names = {"district_history": "district-history rule (naive)", "base_rate": "base rate (naive)"}
    f = headline.assign(is_champion=headline["model"] == champion, is_rule=headline["model"].isin(list(rule_names)))
    vs_history = pd.to_numeric(f["skill_vs_history"])
    rows = pd.DataFrame({
        "model": f["model"].map(rule_names).fillna(f["model"]).astype(str),
        "brier": f["brier"].map("{:.4f}".format),
        "ap": pd.to_numeric(f["average_precision"]).map(lambda v: "\u2014" if pd.isna(v) else f"{v:.2f}"),
        "vs_history": signed_percent(vs_history),
        "vs_base_rate": signed_percent(pd.to_numeric(f["skill_vs_base_rate"])),
        "worse": (vs_history.round(3) < 0).to_numpy(),
        "is_champion": f["is_champion"].to_numpy(), "is_rule": f["is_rule"].to_numpy(),
    })
    champion_row = f[f["is_champion"]]
    verdict = None
    if len(champion_row):
        gain = float(champion_row["skill_vs_history"].iloc[0])
        verdict = (f"The champion's Brier score is {abs(gain):.0%} {'lower' if gain >= 0 else 'higher'} than the "
                   f"naive district-history rule's ({'better' if gain >= 0 else 'worse'}).")
    return {"available": True, "rows": rows.to_dict("records"), "base_rate": f"{float(f['base_rate'].iloc[0]):.1%}",
            "verdict": verdict}


def unsigned(texts: pd.Series) -> pd.Series:
    """Stored driver texts without their '+ ' / '- ' sign (see ``driver_1`` in :mod:`publish.schema`)."""
    return texts.str.replace(r"^[+-] ", "", regex=True)


def signed_percent(values: pd.Series) -> pd.Series:
    """Fractions as signed whole percents ("+12%", "-3%"); a value that rounds to zero is "0%" (never "-0%")."""
    v = pd.to_numeric(values).astype("Float64").round(2)
    text = v.map(lambda x: "\u2014" if pd.isna(x) else ("0%" if x == 0 else f"{x:+.0%}"))
    return text.astype(object)


@dataclass(frozen=True)
class Briefing:
    """The briefing's views of one report: drivers (district_code -> :func:`driver_items` items), charts
    (district_code -> :func:`history_charts` chart), the deadliest events and the headline skill."""

    drivers: dict[str, list[dict]] = field(default_factory=dict)
    charts: dict[str, dict] = field(default_factory=dict)
    events: dict | None = None
    headline: dict = field(default_factory=lambda: {"available": False, "rows": []})


def top_ranks(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` highest-ranked rows (rank 1 first; ties by district code)."""
    return rows.sort_values(["rank", "district_code"], kind="stable").head(n)


def shown_districts(rows: pd.DataFrame, top_n: int, changes_n: int) -> pd.Index:
    """The districts a report lists: its ``top_n`` ranks and its ``changes_n`` largest rises and falls."""
    change = pd.to_numeric(rows["score_change"]).astype("Float64")
    ranked = top_ranks(rows, top_n)["district_code"]
    rises = rows[change > 0].assign(c=change).sort_values("c", ascending=False).head(changes_n)["district_code"]
    falls = rows[change < 0].assign(c=change).sort_values("c").head(changes_n)["district_code"]
    return pd.Index(pd.concat([ranked, rises, falls]).astype(str).unique())


def observed_weeks(panel, weeks: int = HISTORY_WEEKS, measure: str = "violent_events") -> pd.DataFrame:
    """district_code, week_start, events: the panel's last ``weeks`` weeks of ``measure`` (long form)."""
    counts = panel.measures[measure][:, -weeks:]
    n_d, n_w = counts.shape
    return pd.DataFrame({"district_code": np.repeat(panel.districts.to_numpy(dtype=object), n_w),
                         "week_start": np.tile(panel.weeks[-n_w:].to_numpy(), n_d),
                         "events": counts.ravel().astype(np.float64)})


def build_briefing(rows: pd.DataFrame, week1: pd.DataFrame | None, table, events: pd.DataFrame, names: pd.Series, *,
                   published: pd.DataFrame | None, hindcast: pd.DataFrame | None, headline: pd.DataFrame | None,
                   count_champion: str | None, hazard_champion: str | None, top_n: int, changes_n: int) -> Briefing:
    """The :class:`Briefing` of one report. ``rows``: its headline-horizon rows; ``week1``: its 1-week rows
    (None: no charts); ``table``: the run's :class:`features.table.FeatureTable`; ``names``: district_code ->
    name; ``published``: the published 1-week rows of the weeks before; ``hindcast``: the selection backtest's
    walk-forward forecasts (:func:`publish.summary.hindcast_table`), of which the 1-week count champion's
    (``count_champion``) are drawn; ``headline``: :func:`publish.summary.headline_table`'s table."""
    shown = shown_districts(rows, top_n, changes_n)
    listed = rows[rows["district_code"].astype(str).isin(shown)]
    items = driver_items(listed, table.frame, table.forecast_week, table.specs)
    drivers = dict(zip(listed["district_code"].astype(str), items))
    charts = {}
    if week1 is not None:
        top = top_ranks(rows, top_n)["district_code"].astype(str)
        upcoming = week1[week1["district_code"].astype(str).isin(top)]
        observed = observed_weeks(table.panel)
        mine = None
        if hindcast is not None and count_champion is not None:
            mine = hindcast[(hindcast["model"] == count_champion) & hindcast["district_code"].isin(top)]
        charts = history_charts(history_frame(observed[observed["district_code"].isin(top)], published, mine,
                                              upcoming, table.forecast_week))
    return Briefing(drivers=drivers, charts=charts, events=deadliest_events(events, table.data_cutoff, names),
                    headline=headline_view(headline, hazard_champion))
