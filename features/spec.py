"""Features described as data.

Every feature column comes from a :class:`FeatureSpec` (name, family, description, unit, window,
alignment); builders return a :class:`FeatureBlock` holding the specs and their values as dense
``(n_districts, n_weeks)`` float32 arrays aligned with a :class:`features.panel.Panel`. The feature
catalog (``vigie features --list``) is generated from the specs, never written by hand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

#: Alignment of every feature value of week t: it uses only information dated before t's Monday.
BEFORE_WEEK = "uses events dated before week_start"


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: str
    description: str
    unit: str
    window_weeks: int | None = None
    alignment: str = BEFORE_WEEK


@dataclass
class FeatureBlock:
    """Specs and their values; ``values[name]`` has the panel's shape."""

    specs: list[FeatureSpec] = field(default_factory=list)
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, spec: FeatureSpec, value: np.ndarray) -> None:
        if spec.name in self.values:
            raise ValueError(f"feature {spec.name!r} defined twice")
        self.specs.append(spec)
        self.values[spec.name] = np.asarray(value, dtype=np.float32)

    def extend(self, other: "FeatureBlock") -> "FeatureBlock":
        for spec in other.specs:
            self.add(spec, other.values[spec.name])
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]


def catalog(specs: list[FeatureSpec]) -> pd.DataFrame:
    """The feature catalog: one row per feature with name, family, description, unit, window, alignment."""
    return pd.DataFrame([asdict(s) for s in specs], columns=list(FeatureSpec.__dataclass_fields__))


def catalog_version(specs: list[FeatureSpec]) -> str:
    """A short hash of the catalog: changes whenever a feature is added, removed or redefined."""
    payload = json.dumps([asdict(s) for s in specs], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:12]
