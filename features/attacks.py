"""Recent-attack features: windowed sums, decayed sums, lags, time since the last event and trends of the
panel's measures, in the district, its neighbours, a distance kernel or the whole country.

What is built is data: a recipe, a tuple of :class:`WindowSet` rows (``FeatureConfig.recipe``), each naming
measures (:mod:`features.measures`), a spatial scope (:mod:`features.spatial`) and the time transforms
to apply. Every value for week t uses only the weeks before t (see :mod:`features.windows`).

Generated names (``<p>`` is the scope prefix: "" own, "nbr_", "kernel_", "national_"):

* ``<p><measure>_sum_w<w>``: total of the w weeks before week_start (events dated in
  [week_start - w weeks, week_start));
* ``<p><measure>_ewm_hl<h>``: exponentially decayed sum of the weeks before week_start, the week k weeks
  before weighted 0.5 ** ((k - 1) / h);
* ``<p><measure>_lag<k>``: the single week k weeks before week_start;
* ``weeks_since_<p><measure>``: weeks since the last week before week_start with a non-zero value
  (1 = the week just before), capped (the cap also means "none since the panel start");
* ``<p><measure>_trend_w<s>_w<l>``: log((sum_w<s> / s + c) / (sum_w<l> / l + c)), the recent weekly rate
  against the longer one, c = ``trend_offset`` per week (0 when both windows are empty).

Names are generated from the specs' facts by :func:`window_name` (measure, scope, statistic, window,
half-life), the one place that spells them; every spec also carries those facts, so models select features
with :func:`features.spec.select` and never parse a name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from features.panel import Panel
from features.spatial import SCOPE_PREFIXES, SCOPES, Scope
from features.spec import BEFORE_WEEK, FeatureBlock, FeatureSpec
from features.windows import decayed_sum, lag, log_ratio_trend, past_sums, weeks_since

FAMILY = "recent_attacks"
WEEKS_SINCE_CAP = 104
TREND_OFFSET = 0.1
#: The time transforms of :class:`WindowSet` rows, as ``FeatureSpec.statistic`` values.
STATISTICS: tuple[str, ...] = ("sum", "ewm", "lag", "weeks_since", "trend")


@dataclass(frozen=True)
class WindowSet:
    """One row of the feature recipe: which measures get which time transforms, seen from which scope.

    ``family`` labels the generated features in the catalog; ``scope`` is one of
    :data:`features.spatial.SCOPES`; ``windows`` (weeks), ``half_lives`` (weeks), ``lags`` (weeks),
    ``weeks_since`` and ``trends`` ((short, long) window pairs) say what to build for every measure.
    """

    family: str
    measures: tuple[str, ...]
    scope: str = "own"
    windows: tuple[int, ...] = ()
    half_lives: tuple[float, ...] = ()
    lags: tuple[int, ...] = ()
    weeks_since: bool = False
    trends: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"WindowSet {self.family!r}: scope must be one of {SCOPES}, got {self.scope!r}")
        if any(w < 1 for w in self.windows) or any(k < 1 for k in self.lags) or any(h <= 0 for h in self.half_lives):
            raise ValueError(f"WindowSet {self.family!r}: windows and lags must be >= 1 and half-lives > 0")
        if any(not (1 <= s < l) for s, l in self.trends):
            raise ValueError(f"WindowSet {self.family!r}: trends need 1 <= short < long, got {self.trends}")

    def feature_count(self) -> int:
        per_measure = (len(self.windows) + len(self.half_lives) + len(self.lags) + int(self.weeks_since)
                       + len(self.trends))
        return per_measure * len(self.measures)


def window_name(measure: str, statistic: str, *, scope: str = "own", window: int | None = None,
                half_life: float | None = None, short: int | None = None) -> str:
    """The column name of a windowed feature (see the module docstring), from its facts.

    ``window``: weeks of a ``sum``, k of a ``lag``, the long window of a ``trend`` (``short`` its short one);
    ``half_life``: weeks of an ``ewm``.
    """
    if scope not in SCOPE_PREFIXES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    base = f"{SCOPE_PREFIXES[scope]}{measure}"
    needs = {"sum": window, "lag": window, "ewm": half_life, "trend": short and window, "weeks_since": True}
    if statistic not in needs:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    if needs[statistic] is None:
        raise ValueError(f"a {statistic!r} feature needs its window (and a trend its short window) or half-life")
    if statistic == "sum":
        return f"{base}_sum_w{window}"
    if statistic == "ewm":
        return f"{base}_ewm_hl{half_life:g}"
    if statistic == "lag":
        return f"{base}_lag{window}"
    if statistic == "weeks_since":
        return f"weeks_since_{base}"
    return f"{base}_trend_w{short}_w{window}"


def window_spec(measure: str, statistic: str, *, scope: str = "own", window: int | None = None,
                half_life: float | None = None, short: int | None = None, family: str = FAMILY,
                description: str = "", unit: str = "events", alignment: str = BEFORE_WEEK) -> FeatureSpec:
    """The spec of a windowed feature: its :func:`window_name` and facts (``window_weeks`` is ``window``).

    :func:`window_features` builds every spec with this function; a test or a model can build the same
    facts by hand (the description and unit only document the column).
    """
    name = window_name(measure, statistic, scope=scope, window=window, half_life=half_life, short=short)
    return FeatureSpec(name, family, description, unit, window, alignment, measure=measure, scope=scope,
                       statistic=statistic, half_life_weeks=None if half_life is None else float(half_life),
                       short_window_weeks=short)


def window_features(
    panel: Panel,
    recipe: Sequence[WindowSet],
    scopes: Mapping[str, Scope],
    *,
    weeks_since_cap: int = WEEKS_SINCE_CAP,
    trend_offset: float = TREND_OFFSET,
) -> FeatureBlock:
    """The features of ``recipe`` (names and alignment in the module docstring) as ``panel``-shaped float32.

    ``scopes`` maps each scope name used by the recipe to a :class:`features.spatial.Scope`. Each
    (scope, measure) array is computed once; windows share one cumulative sum per array. National
    features are broadcast views over the districts.
    """
    n_d, n_w = panel.shape
    block = FeatureBlock()

    def add(spec: FeatureSpec, value: np.ndarray) -> None:
        block.add(spec, np.broadcast_to(value, (n_d, n_w)) if value.shape[0] != n_d else value)

    scoped_cache: dict[tuple[str, str], np.ndarray] = {}
    for row in recipe:
        if row.scope not in scopes:
            raise ValueError(f"recipe row {row.family!r} needs scope {row.scope!r}, not given")
        scope = scopes[row.scope]
        for m in row.measures:
            if m not in panel.measures:
                raise ValueError(f"recipe row {row.family!r} needs measure {m!r}, not in the panel")
            key = (row.scope, m)
            if key not in scoped_cache:
                scoped_cache[key] = scope.apply(panel.measures[m])
            x = scoped_cache[key]
            desc, unit = panel.descriptions[m]
            what = f"{desc} {scope.phrase}"
            facts = {"scope": row.scope, "family": row.family}
            needed = sorted(set(row.windows) | {w for pair in row.trends for w in pair})
            sums = past_sums(x, needed) if needed else {}
            for w in row.windows:
                add(window_spec(m, "sum", window=w, description=f"{what}, dated in the {w} weeks before week_start",
                                unit=unit, alignment=f"events dated in [week_start - {w} weeks, week_start)", **facts),
                    sums[w])
            for h in row.half_lives:
                add(window_spec(m, "ewm", half_life=h, unit=unit, alignment="events dated before week_start",
                                description=f"{what}, exponentially decayed sum of the weeks before week_start "
                                f"(half-life {h:g} weeks; the week just before has weight 1)", **facts),
                    decayed_sum(x, h))
            for k in row.lags:
                add(window_spec(m, "lag", window=k, description=f"{what}, in the single week {k} week(s) before "
                                "week_start", unit=unit,
                                alignment=f"events dated in [week_start - {k} weeks, week_start - {k - 1} weeks)",
                                **facts), lag(x, k))
            if row.weeks_since:
                add(window_spec(m, "weeks_since", unit="weeks", alignment="events dated before week_start",
                                description=f"weeks since the last week with {what} (1 = the week just before "
                                f"week_start; capped at {weeks_since_cap}, also when none)", **facts),
                    weeks_since(x, weeks_since_cap))
            for short, long in row.trends:
                add(window_spec(m, "trend", window=long, short=short, unit="log ratio",
                                description=f"trend of {what}: log((last {short} weeks / {short} + "
                                f"{trend_offset:g}) / (last {long} weeks / {long} + {trend_offset:g})), weekly rates",
                                alignment=f"events dated in [week_start - {long} weeks, week_start)", **facts),
                    log_ratio_trend(sums[short], short, sums[long], long, trend_offset))
            del sums
    return block


def recent_attack_features(
    panel: Panel,
    measures: Sequence[str],
    *,
    lags: Sequence[int] = (),
    windows: Sequence[int] = (4, 13, 52),
    half_lives: Sequence[float] = (4,),
    weeks_since_measures: Sequence[str] = ("violent_events", "major_attacks"),
) -> FeatureBlock:
    """Own-district history of each measure (a one-family recipe, no spatial scope).

    Names: ``{measure}_sum_w{w}``, ``{measure}_ewm_hl{h}``, ``{measure}_lag{k}`` and
    ``weeks_since_{measure}`` (see the module docstring).
    """
    own = {"own": Scope("own", "", "in the district")}
    recipe = [WindowSet(FAMILY, tuple(measures), windows=tuple(windows), half_lives=tuple(half_lives),
                        lags=tuple(lags))]
    if weeks_since_measures:
        recipe.append(WindowSet(FAMILY, tuple(weeks_since_measures), weeks_since=True))
    return window_features(panel, recipe, own)
