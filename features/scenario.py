"""What-if scenarios on the force registry: a TOML file names changes to ``foreign_forces.csv`` (a force leaves
all or named bases; another force takes named bases over), and :func:`apply_scenario` returns the registry as
it would be under them. Pure: the file is read by :func:`read_scenario`, everything else works on frames.

A scenario file::

    id = "wagner-to-africa-corps"              # letters, digits, '-', '_': the key of its scenario_scores rows
    title = "Wagner leaves Mali; Africa Corps takes four of its bases"
    description = "..."                        # optional, shown in the report
    # date = "2025-06-06"                      # optional: when the changes take effect (default: the forecast week)

    [[change]]
    action = "take_over"                       # "leave" or "take_over"
    force = "Africa Corps"                     # take_over: the force that arrives
    kind = "foreign combat"                    # its kind (features.registries.FORCE_KINDS)
    from_force = "Wagner Group"                # whose bases it takes
    bases = ["Bamako", "Sevare", "Gao", "Timbuktu"]

    [[change]]
    action = "leave"
    force = "Wagner Group"                     # leaves every base it holds at the date, or only ``bases``
    # bases = ["Menaka", "Kidal"]
    # date = "2023-01-02"                      # a change may give its own date

Changes apply in file order (a "leave" of every base after a "take_over" leaves the bases not taken over).
A "leave" clears the leaving deployments' ``replaced_by`` (a later handover in the registry does not happen).

Time alignment: a change dated ``d`` (a day, at the latest the forecast week's Monday) ends the leaving
deployments on ``d - 1`` and starts the arriving ones on ``d - 1``, so that under the presence rule of
:mod:`features.forces` (``start < monday <= end``) the Monday ``d`` and after see the new registry and the
departure is dated in the week before ``d`` (first known at ``d``). Bases are named by the registry's
``location`` (case and accents ignored) or ``deployment_id``. A change dated after the forecast week, a force,
kind or base the registry does not hold at that date (a base already taken over included) is refused with
:class:`ScenarioError` naming the file and the change.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.registries import FORCE_KINDS

ACTIONS = ("leave", "take_over")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")
_KEYS = {"leave": {"action", "force", "bases", "date", "note"},
         "take_over": {"action", "force", "kind", "from_force", "bases", "date", "note"}}
_TOP_KEYS = {"id", "title", "description", "date", "change"}


class ScenarioError(ValueError):
    """A scenario file that cannot be applied: the message names the file, the change and what is wrong."""


@dataclass(frozen=True)
class Change:
    action: str
    force: str
    bases: tuple[str, ...] = ()
    kind: str | None = None
    from_force: str | None = None
    date: pd.Timestamp | None = None
    note: str | None = None


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    changes: tuple[Change, ...]
    description: str = ""
    date: pd.Timestamp | None = None
    source: str = "<scenario>"  #: the file it was read from (for messages)
    text: str = field(default="", repr=False)  #: the file's text (hashed into the published rows)


def _date(value, where: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(str(value)).normalize()
    except ValueError:
        raise ScenarioError(f"{where}: date {value!r} is not a date (YYYY-MM-DD)") from None


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """The scenario of a TOML text (see the module doc); raises ScenarioError naming ``source``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ScenarioError(f"{source}: unknown key(s) {unknown}; expected some of {sorted(_TOP_KEYS)}")
    sid, title = raw.get("id"), raw.get("title")
    if not isinstance(sid, str) or not _ID.fullmatch(sid):
        raise ScenarioError(f"{source}: 'id' must be 1-80 letters, digits, '-' or '_' (got {sid!r})")
    if not isinstance(title, str) or not title.strip():
        raise ScenarioError(f"{source}: 'title' is required")
    items = raw.get("change")
    if not isinstance(items, list) or not items:
        raise ScenarioError(f"{source}: at least one [[change]] is required")
    changes = []
    for i, item in enumerate(items, start=1):
        where = f"{source}, change {i}"
        action = item.get("action")
        if action not in ACTIONS:
            raise ScenarioError(f"{where}: action {action!r} is not one of {ACTIONS}")
        extra = sorted(set(item) - _KEYS[action])
        if extra:
            raise ScenarioError(f"{where}: unknown key(s) {extra} for action {action!r}")
        force, bases = item.get("force"), item.get("bases", [])
        if not isinstance(force, str) or not force.strip():
            raise ScenarioError(f"{where}: 'force' is required")
        if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
            raise ScenarioError(f"{where}: 'bases' must be a list of base names")
        if action == "take_over":
            if item.get("kind") not in FORCE_KINDS:
                raise ScenarioError(f"{where}: 'kind' {item.get('kind')!r} is not one of {FORCE_KINDS}")
            if not isinstance(item.get("from_force"), str) or not bases:
                raise ScenarioError(f"{where}: take_over needs 'from_force' and the 'bases' it takes")
        changes.append(Change(action, force.strip(), tuple(b.strip() for b in bases), item.get("kind"),
                              item.get("from_force"), _date(item.get("date"), where), item.get("note")))
    return Scenario(sid, title.strip(), tuple(changes), str(raw.get("description", "")).strip(),
                    _date(raw.get("date"), source), source, text)


def read_scenario(path: Path | str) -> Scenario:
    """The scenario file ``path`` (UTF-8 TOML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc})") from None
    return parse_scenario(text, str(path))


def _key(text: pd.Series | str):
    def fold(s: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).casefold().strip()

    return text.astype("string").fillna("").map(fold) if isinstance(text, pd.Series) else fold(text)


def apply_scenario(forces: pd.DataFrame, scenario: Scenario, forecast_week: pd.Timestamp) -> tuple[pd.DataFrame, list[str]]:
    """The registry ``forces`` (:func:`features.registries.load_foreign_forces`, optionally with district_code)
    under ``scenario``, and one plain sentence per change saying what it did. ``forces`` is not modified."""
    week = pd.Timestamp(forecast_week).normalize()
    out = forces.copy()
    out["source_note"] = out["source_note"].astype("string")
    out["replaced_by"] = out["replaced_by"].astype("string")
    sentences = []
    for i, change in enumerate(scenario.changes, start=1):
        where = f"{scenario.source}, change {i} ({change.action} {change.force})"
        when = change.date or scenario.date or week
        if when > week:
            raise ScenarioError(f"{where}: dated {when.date()}, after the forecast week {week.date()}; a scenario "
                                "changes the registry up to the week it scores (give an earlier date or a later --as-of)")
        owner = change.force if change.action == "leave" else change.from_force
        present = ((out["start"] < when) & (out["end"].isna() | (out["end"] >= when))).to_numpy()
        of_force = (_key(out["force"]) == _key(owner)).to_numpy()
        if not (of_force & present).any():
            held = sorted(out.loc[present, "force"].unique())
            raise ScenarioError(f"{where}: the registry has no base of {owner!r} on {when.date()} "
                                f"(forces present then: {', '.join(held)})")
        rows = of_force & present
        if change.bases:
            wanted = pd.Series([_key(b) for b in change.bases])
            named = (_key(out["location"]).isin(wanted) | _key(out["deployment_id"]).isin(wanted)).to_numpy()
            held = set(_key(out.loc[rows, "location"])) | set(_key(out.loc[rows, "deployment_id"]))
            missing = [b for b in change.bases if _key(b) not in held]
            if missing:
                raise ScenarioError(f"{where}: {owner!r} holds no base {missing} on {when.date()} (it holds: "
                                    f"{', '.join(sorted(out.loc[rows, 'location']))})")
            rows &= named
        ended = out.index[rows]
        owner = str(out.loc[ended[0], "force"])  # as the registry spells it
        out.loc[ended, "end"] = when - pd.Timedelta(days=1)
        out.loc[ended, "source_note"] = out.loc[ended, "source_note"] + f" [scenario {scenario.id}: ends {when.date()}]"
        locations = out.loc[ended, "location"].tolist()
        if change.action == "leave":  # nobody takes over: the registry's later handovers do not apply
            out.loc[ended, "replaced_by"] = pd.NA
            sentences.append(f"{owner} leaves {', '.join(locations)} on {when.date()}; nobody takes over")
            continue
        new = out.loc[ended].drop_duplicates("location").copy()
        slug = re.sub(r"[^a-z0-9]+", "-", _key(change.force)).strip("-")
        new["deployment_id"] = [f"scenario-{slug}-{re.sub(r'[^a-z0-9]+', '-', _key(loc)).strip('-')}"
                                for loc in new["location"]]
        new = new.assign(force=change.force, kind=change.kind, start=when - pd.Timedelta(days=1), end=pd.NaT,
                         date_precision="day", replaced_by=pd.NA,
                         source_note=f"scenario {scenario.id}: {change.force} takes over from {owner}")
        by_location = dict(zip(_key(new["location"]), new["deployment_id"]))
        out.loc[ended, "replaced_by"] = [by_location[k] for k in _key(out.loc[ended, "location"])]
        out = pd.concat([out, new], ignore_index=True)  # a later change may act on the new deployments
        sentences.append(f"{change.force} ({change.kind}) takes over {', '.join(new['location'])} from {owner} on "
                         f"{when.date()}")
    duplicated = out["deployment_id"].duplicated()
    if duplicated.any():
        raise ScenarioError(f"{scenario.source}: the changes create deployment ids already in the registry: "
                            f"{sorted(out.loc[duplicated, 'deployment_id'])}")
    return out, sentences
