"""Which country a district belongs to, as features: for a panel of several countries, one indicator per country.

``country_<iso3>`` is 1 for the districts of that country and 0 elsewhere, every week (a fact of the gazetteer,
known in advance). A panel of one country gets none: the indicator would be constant. Pooled models of a
region read them where it helps (the boosted model's trees, a self-exciting model's modifiers), and the
per-country models of :mod:`models.per_country` route rows by them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from features.panel import Panel
from features.spec import FeatureBlock, FeatureSpec

FAMILY = "country"
_WHEN = "the gazetteer (known in advance)"


def country_spec(iso3: str) -> FeatureSpec:
    """The indicator of the districts of ``iso3``."""
    return FeatureSpec(f"country_{iso3.lower()}", FAMILY, f"1 if the district is in {iso3}", "indicator", None, _WHEN,
                       measure=f"country_{iso3.lower()}", scope="own", statistic="indicator")


def country_features(panel: Panel, district_countries: Sequence[str]) -> FeatureBlock:
    """``country_<iso3>`` for each country of ``district_countries`` (the ISO3 of each panel district), in the
    order they first appear; no column for a panel of one country."""
    countries = np.asarray(list(district_countries), dtype=object)
    block = FeatureBlock()
    members = list(dict.fromkeys(countries))
    if len(members) < 2:
        return block
    n_w = len(panel.weeks)
    for iso3 in members:
        block.add(country_spec(iso3), np.broadcast_to((countries == iso3).astype(np.float32)[:, None],
                                                      (len(countries), n_w)))
    return block
