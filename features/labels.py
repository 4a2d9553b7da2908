"""Short labels of features, for the "top drivers" column of the weekly report.

A feature's ``description`` is precise and long (it stays the hover text); an analyst scanning a briefing
needs a few plain words instead: "violence, last 4 weeks", "JNIM attacks nearby, 13-wk half-life",
"time since last coup". :func:`short_label` writes them from the structured facts of the
:class:`features.spec.FeatureSpec` (measure, scope, statistic, window, half-life, short window) with a table
of short nouns per measure, never from the feature's name: names are generated and never read back.
Scopes read "nearby" (the neighbouring districts), "in the wider area" (the distance-weighted kernel) and
"nationwide"; an ``ewm`` reads by its half-life, a ``weeks_since`` as "time since last ..." (the caller says
short or long, so a high value never reads as its opposite).

Labels start in lower case (proper names such as JNIM keep theirs), hold at most :data:`MAX_CHARS`
characters and no trailing period, and differ across a country's catalog. A measure missing from the
table reads as its name with spaces; a spec without facts falls back to its description, shortened.

:func:`value_kind` says how a caller describes the feature's current value against the district's usual
level: a "duration" (short/long), a "flag" (0/1), "cyclic" (no level) or an "amount" (high/low).
"""

from __future__ import annotations

import math

from features.spec import FeatureSpec

#: Longest label.
MAX_CHARS = 48

# ---------------------------------------------------------------------- nouns per measure: (many, one)

#: Perpetrator families (:data:`features.measures.PERPETRATOR_SPLITS`) as a reader names them.
_GROUPS: dict[str, str] = {
    "jnim_aq": "JNIM", "islamic_state": "Islamic State", "communal_militia": "communal militia",
    "northern_armed": "armed movement", "state_forces": "state force", "foreign_forces": "foreign force",
    "other": "other-actor",
}
#: Force kinds (slugs of :data:`features.registries.FORCE_KINDS`, and "any" foreign kind): the word before
#: "base" / "activity", and the force itself (what arrives and leaves).
_FORCES: dict[str, tuple[str, str]] = {
    "foreign_combat": ("foreign combat", "foreign combat force"),
    "peacekeeping": ("peacekeeping", "peacekeeping force"),
    "training": ("training mission", "training mission"),
    "private_military": ("private military", "private military force"),
    "regional": ("regional force", "regional force"),
    "national_army": ("national army", "national army"),
    "any": ("foreign force", "foreign force"),
}

#: measure -> (plural or mass noun of an amount, singular of one occurrence).
MEASURE_NOUNS: dict[str, tuple[str, str]] = {
    "violent_events": ("violence", "violence"),
    "fatalities": ("deaths", "death"),
    "major_attacks": ("major attacks", "major attack"),
    "battles": ("battles", "battle"),
    "battles_fatalities": ("battle deaths", "battle death"),
    "explosions": ("explosions", "explosion"),
    "explosions_fatalities": ("explosion deaths", "explosion death"),
    "civilian_violence": ("violence against civilians", "violence against civilians"),
    "civilian_violence_fatalities": ("civilians killed", "civilian killed"),
    **{f"by_{g}_events": (f"{name} attacks", f"{name} attack") for g, name in _GROUPS.items()},
    **{f"by_{g}_fatalities": (f"{name} attack deaths", f"{name} attack death") for g, name in _GROUPS.items()},
    "on_security_forces_events": ("attacks on security forces", "attack on security forces"),
    "on_security_forces_fatalities": ("deaths in attacks on forces", "death in an attack on forces"),
    "on_civilians_events": ("attacks on civilians", "attack on civilians"),
    "on_civilians_fatalities": ("deaths in attacks on civilians", "death in an attack on civilians"),
    "protests": ("protests", "protest"),
    "riots": ("riots", "riot"),
    "strategic": ("strategic developments", "strategic development"),
    **{f"{k}_force_deployments": (f"{base} bases", f"{base} base") for k, (base, _) in _FORCES.items()},
    **{f"{k}_force_events": (f"{base} activity", f"{base} activity") for k, (base, _) in _FORCES.items()},
    **{f"{k}_force_arrivals": (f"{force} arrivals", f"{force} arrival") for k, (_, force) in _FORCES.items()},
    **{f"{k}_force_departures": (f"{force} departures", f"{force} departure") for k, (_, force) in _FORCES.items()},
    **{f"{k}_force_changes": (f"{force} arrivals/departures",) * 2 for k, (_, force) in _FORCES.items()},
    "force_vacuums": ("security vacuums", "security vacuum"),
    "force_handovers": ("base handovers", "base handover"),
    "month": ("rainy season", "rainy season"),  # the month's only indicator: the country's rainy season
    "week_of_year": ("time of year", "time of year"),
}
#: National political calendar groups (:data:`features.political.CALENDAR_GROUPS`): national by nature, so
#: their labels do not say "nationwide".
_CALENDAR: dict[str, str] = {
    "calendar_coup": "coup", "calendar_election": "election", "calendar_sanctions": "sanctions decision",
    "calendar_accord": "peace accord milestone", "calendar_repression": "crackdown",
    "calendar_alliance": "alliance", "calendar_foreign_force_change": "foreign force change",
    "calendar_major_attack": "headline attack", "calendar_other": "other political shock",
}
MEASURE_NOUNS.update({measure: (noun, noun) for measure, noun in _CALENDAR.items()})

#: scope -> words after the noun (see :data:`features.spatial.SCOPES`).
_WHERE: dict[str, str] = {"own": "", "neighbours": " nearby", "kernel": " in the wider area", "national": " nationwide"}

#: statistic -> label template. Fields: many/one (the nouns), where (the scope), weeks ("week", "4 weeks"),
#: n_weeks ("1 week", "4 weeks"), w (window), s (short window), hl (half-life).
_TEMPLATES: dict[str, str] = {
    "sum": "{many}{where}, last {weeks}",
    "ewm": "{many}{where}, {hl}-wk half-life",
    "lag": "{many}{where}, {n_weeks} ago",
    "trend": "{many} trend{where} ({s} vs {w} weeks)",
    "weeks_since": "time since last {one}{where}",
    "weeks_until": "time until next {one}{where}",
    "any": "{one}{where} in the last {weeks}",
    "upcoming": "{one}{where} in the next {weeks}",
    "count": "{many}{where}",
    "indicator": "{one}{where}",
    "nearest_km": "distance to nearest {one}",
    "sin": "time of year (sine)",
    "cos": "time of year (cosine)",
}
#: Templates of a statistic whose window facts are missing (other statistics: the bare noun and scope).
_WITHOUT_WINDOW: dict[str, str] = {"any": "{one} present{where}", "upcoming": "{one} upcoming{where}",
                                   "trend": "{many} trend{where}"}

_DURATIONS = frozenset({"weeks_since", "weeks_until"})
_FLAGS = frozenset({"any", "indicator", "upcoming"})
_FLAG_UNITS = frozenset({"indicator", "0/1", "flag", "binary"})
_CYCLIC = frozenset({"sin", "cos"})


def _fact(value):
    """A spec fact, None also for NaN (the facts of a catalog frame row)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _number(value) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def _readable(text: str) -> str:
    return text.replace("_", " ").strip()


def _cut(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split()).rstrip(".")
    if len(text) <= limit:
        return text
    head = text[: limit - 3]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:(-/") + "..."


def short_label(spec: FeatureSpec) -> str:
    """A short plain-English label of ``spec`` for the report's driver column, written from its facts only.

    Never raises: an unknown measure reads as its name with spaces, an unknown statistic is named after the
    noun, a spec without a measure (and not an annual harmonic) falls back to its description.
    """
    measure, scope, statistic = (_fact(v) for v in (spec.measure, spec.scope, spec.statistic))
    window, half_life, short = (_fact(v) for v in (spec.window_weeks, spec.half_life_weeks, spec.short_window_weeks))
    if measure is None and statistic not in _CYCLIC:
        return _cut(spec.description or _readable(spec.name))
    many, one = MEASURE_NOUNS.get(measure, (_readable(str(measure)),) * 2)
    where = "" if measure in _CALENDAR or scope is None else _WHERE.get(scope, f" in {_readable(str(scope))}")
    facts = {"where": where, "stat": _readable(str(statistic))}
    if window is not None:
        facts.update(w=_number(window), weeks="week" if window == 1 else f"{_number(window)} weeks",
                     n_weeks=f"{_number(window)} week" + ("" if window == 1 else "s"))
    if half_life is not None:
        facts["hl"] = _number(half_life)
    if short is not None:
        facts["s"] = _number(short)
    template = _TEMPLATES.get(statistic, "{many}{where}" if statistic is None else "{many}{where} ({stat}, {n_weeks})")
    try:
        label = template.format(many=many, one=one, **facts)
    except KeyError:  # a window fact the template needs is missing
        bare = "{many}{where}" if statistic in _TEMPLATES else "{many}{where} ({stat})"
        template = _WITHOUT_WINDOW.get(statistic, bare)
        label = template.format(many=many, one=one, **facts)
    if len(label) > MAX_CHARS:  # a long unknown noun: shorten the noun, keep the window facts
        room = MAX_CHARS - len(template.format(many="", one="", **facts))
        if room >= 12:
            label = template.format(many=_cut(many, room), one=_cut(one, room), **facts)
    return _cut(label)


def value_kind(spec: FeatureSpec) -> str:
    """How to describe the current value of ``spec`` against the district's usual level: "duration" (weeks
    since/until something: short or long), "flag" (a 0/1 indicator), "cyclic" (an annual harmonic: no level)
    or "amount" (high or low)."""
    statistic, unit = _fact(spec.statistic), str(_fact(spec.unit) or "").strip().lower()
    if statistic in _DURATIONS:
        return "duration"
    if statistic in _FLAGS or unit in _FLAG_UNITS or "0/1" in unit:
        return "flag"
    if statistic in _CYCLIC:
        return "cyclic"
    return "amount"
