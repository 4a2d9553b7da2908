"""The model suite: which baselines and candidate models Vigie backtests and may promote, as data.

Each entry is a recipe built by name into a :class:`models.backtest.ModelSpec`, so a config (or a CLI flag)
can list the candidates it wants and a registered model records the spec name it was built from. A recipe
holds the factory ``(horizon, catalog) -> model`` and the facts the engine needs without building the model:
the lag weeks it reads (``history_weeks``) and, for hazards fitted on weekly rows, the training horizon.

Models receive the feature catalog (``FeatureTable.specs``) and select their features from it by family,
measure, scope, statistic and window (:mod:`features.spec`); no entry names a column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from features.forces import FAMILY_PRESENCE
from features.membership import FAMILY as COUNTRY_FAMILY
from features.spec import AnyOf, FeatureSpec, Select
from models.backtest import ModelSpec
from models.baselines import (
    ADIDA,
    IMAPA,
    MEASURE,
    TSB,
    Conflictology,
    CrostonSBA,
    DistrictHistoryRule,
    HazardBaseRate,
    LastWeek,
    RollingMean,
    Zero,
)
from models.boosted import BoostedCount, LightGBMCount
from models.calibration import METHODS, RecalibratedHazard
from models.design import catalog_specs
from models.ensemble import MeanPool, ProbabilityPool
from models.glm import NegativeBinomialGLM, ZeroInflatedNegativeBinomialGLM
from models.hazard import DEFAULT_HAZARD_FEATURES, DiscreteTimeHazard, LightGBMHazard
from models.per_country import PerCountryCount, PerCountryHazard
from models.protocol import Model
from models.self_exciting import SelfExcitingHazard, SelfExcitingNB

#: Settings chosen on the validation origins 2016-01-04 .. 2017-12-25 of the real Mali data (weekly origins,
#: refit every 13, training rows from 2012-01-02; see bench/skill_mali.py), never on 2018 or later:
#: the NB2 dispersion of the self-exciting models (0.3 beat 0.15, 0.5, the likelihood's ~1.5 and a CRPS
#: choice on the training rows), nb_glm's ridge (0.01; the former 1.0 shrank every coefficient to nothing),
#: the boosted model's size (50 rounds on own / neighbour / kernel / national history, time since, season).
SELF_EXCITING_ALPHA = 0.3
#: The boosted model's trees read (in catalog order): the district's own violent-event and fatality history,
#: every neighbour, distance-kernel and national history, the times since, the trends, the annual harmonics,
#: and in a regional run the country indicators.
BOOST_FEATURES = AnyOf(
    Select(family="recent_attacks", measure=("violent_events", "fatalities")),
    Select(family=("neighbours", "distance_weighted", "national", "time_since", "trend")),
    Select(family="seasonality", statistic=("sin", "cos")),
    Select(family=COUNTRY_FAMILY),  # a regional table's country indicators (none for one country)
)

#: What the force-aware models read (:mod:`features.forces`): bases of the main foreign kinds in the district,
#: the distance to the nearest one, a base of any foreign kind next door, and the withdrawal terms: a kind
#: left the district in the last 13 weeks, a vacuum (left with no handover) in the district or a neighbour
#: in the last 26 weeks, a handover in the last 26 weeks. The terms are not chosen by a search (the validation
#: origins before 2019 hold few withdrawals); only their ridge penalty is, below.
FORCE_TERMS = AnyOf(
    Select(family=FAMILY_PRESENCE, statistic=("count", "nearest_km"), scope=("own", None),
           measure=tuple(f"{k}_force_deployments" for k in ("foreign_combat", "peacekeeping", "private_military"))),
    Select(family=FAMILY_PRESENCE, measure="any_force_deployments", scope="neighbours", statistic="any"),
    Select(family=FAMILY_PRESENCE, measure="any_force_departures", statistic="any"),
    Select(family=FAMILY_PRESENCE, measure=("force_vacuums", "force_handovers"), statistic="any"),
)

#: Ridge penalty of the force terms of hawkes_nb_forces, chosen on the UCDP validation origins 2016-01-04 ..
#: 2018-12-31 among 0.01, 0.1, 1, 10, 100 (`bench/forces_ucdp.py --periods validation --l2-grid 0.1,1,10,100`):
#: 1 was best on the district-weeks after a withdrawal at h = 4 and tied overall; 0.01 lost 1.8% at h = 4.
FORCE_L2 = 1.0

#: Weights of the pools' members (the model, IMAPA), chosen with the pools (bench/research.py --choose).
POOL_WEIGHTS = (0.5, 0.5)

#: Weights of the hazard blend's members (the self-exciting hazard, the district-history rule).
HAZARD_BLEND_WEIGHTS = (0.75, 0.25)

#: The rolling means, conflictology and the intermittent-demand peers of statsforecast (written on arrays in
#: models/baselines.py, checked against statsforecast 2.1.1): every skill is against the best of them.
BASELINES = ("zero", "last_week", "mean_4", "mean_13", "mean_52", "conflictology", "tsb", "croston_sba", "adida",
             "imapa")
#: The hazard baselines: each district's shrunk event rate over all its training rows, and the naive
#: district-history rule (its share of 4-week windows with a major attack in the last 52 weeks).
HAZARD_BASELINES = ("base_rate", "district_history")
#: Every baseline and peer, count and hazard.
ALL_BASELINES = BASELINES + HAZARD_BASELINES

Catalog = Iterable[FeatureSpec]


@dataclass(frozen=True)
class Recipe:
    """How to build one suite entry: ``build(horizon, catalog)`` returns a fresh, unfitted model;
    ``history_weeks(horizon)`` the lag weeks it reads (the built model's ``history_weeks``); hazards fitted
    on weekly rows (discrete-time) have ``fit_horizon=1``."""

    build: Callable[[int, list[FeatureSpec]], Model]
    history_weeks: Callable[[int], int] = lambda horizon: 0
    fit_horizon: int | None = None
    history_measure: str = MEASURE


COUNT_RECIPES: dict[str, Recipe] = {
    "zero": Recipe(lambda h, c: Zero(h)),
    "last_week": Recipe(lambda h, c: LastWeek(h)),
    "mean_4": Recipe(lambda h, c: RollingMean(h, 4, name="mean_4")),
    "mean_13": Recipe(lambda h, c: RollingMean(h, 13, name="mean_13")),
    "mean_52": Recipe(lambda h, c: RollingMean(h, 52, name="mean_52")),
    "conflictology": Recipe(lambda h, c: Conflictology(h), history_weeks=Conflictology.history_for),
    "tsb": Recipe(lambda h, c: TSB(h), history_weeks=TSB.history_for),
    "croston_sba": Recipe(lambda h, c: CrostonSBA(h), history_weeks=CrostonSBA.history_for),
    "adida": Recipe(lambda h, c: ADIDA(h), history_weeks=ADIDA.history_for),
    "imapa": Recipe(lambda h, c: IMAPA(h), history_weeks=IMAPA.history_for),
    "nb_glm": Recipe(lambda h, c: NegativeBinomialGLM(h, c, name="nb_glm", l2=0.01)),
    "zinb_glm": Recipe(lambda h, c: ZeroInflatedNegativeBinomialGLM(h, c, name="zinb_glm")),
    "lgbm_poisson": Recipe(lambda h, c: LightGBMCount(h, c, objective="poisson", n_estimators=200, n_jobs=1,
                                                      name="lgbm_poisson")),
    "lgbm_tweedie": Recipe(lambda h, c: LightGBMCount(h, c, objective="tweedie", n_estimators=200, n_jobs=1,
                                                      name="lgbm_tweedie")),
    "hawkes_nb": Recipe(lambda h, c: SelfExcitingNB(h, c, dispersion=SELF_EXCITING_ALPHA, name="hawkes_nb")),
    "hawkes_nb_forces": Recipe(lambda h, c: SelfExcitingNB(h, c, modifiers=(FORCE_TERMS,), l2=FORCE_L2,
                                                           dispersion=SELF_EXCITING_ALPHA, name="hawkes_nb_forces")),
    "lgbm_boost": Recipe(lambda h, c: BoostedCount(h, c, SelfExcitingNB(h, c, dispersion=SELF_EXCITING_ALPHA),
                                                   (BOOST_FEATURES,), n_estimators=50,
                                                   dispersion=SELF_EXCITING_ALPHA, n_jobs=1, name="lgbm_boost")),
    # Linear pools of a self-exciting model's mean with IMAPA's (weights 0.5 / 0.5), chosen on the validation
    # origins of both sources among pools of hawkes_nb / hawkes_nb_forces / lgbm_boost with TSB, Croston SBA,
    # ADIDA and IMAPA at weights 0.25, 0.5, 0.75 (bench/research.py --choose).
    "pool_hawkes_imapa": Recipe(lambda h, c: MeanPool(
        (SelfExcitingNB(h, c, dispersion=SELF_EXCITING_ALPHA, name="hawkes_nb"), IMAPA(h)), POOL_WEIGHTS,
        SELF_EXCITING_ALPHA, name="pool_hawkes_imapa"), history_weeks=IMAPA.history_for),
    "pool_hawkes_forces_imapa": Recipe(lambda h, c: MeanPool(
        (SelfExcitingNB(h, c, modifiers=(FORCE_TERMS,), l2=FORCE_L2, dispersion=SELF_EXCITING_ALPHA,
                        name="hawkes_nb_forces"), IMAPA(h)), POOL_WEIGHTS, SELF_EXCITING_ALPHA,
        name="pool_hawkes_forces_imapa"), history_weeks=IMAPA.history_for),
}
HAZARD_RECIPES: dict[str, Recipe] = {
    "base_rate": Recipe(lambda h, c: HazardBaseRate(h, per_district=True, name="base_rate")),
    "district_history": Recipe(lambda h, c: DistrictHistoryRule(h), history_weeks=lambda h: 52,
                               history_measure=DistrictHistoryRule.history_measure),
    "hazard_cloglog": Recipe(lambda h, c: DiscreteTimeHazard(h, c, link="cloglog", name="hazard_cloglog"),
                             fit_horizon=1),
    "hazard_cloglog_forces": Recipe(lambda h, c: DiscreteTimeHazard(h, c, (*DEFAULT_HAZARD_FEATURES, FORCE_TERMS),
                                                                    link="cloglog", name="hazard_cloglog_forces"),
                                    fit_horizon=1),
    "lgbm_hazard": Recipe(lambda h, c: LightGBMHazard(h, c, n_estimators=200, n_jobs=1, name="lgbm_hazard")),
    "hawkes_hazard": Recipe(lambda h, c: SelfExcitingHazard(h, c, name="hawkes_hazard")),
    # chosen on the validation origins of both sources (bench/research.py --choose), weights 0.5 / 0.75 tried
    "blend_hawkes_hazard_history": Recipe(lambda h, c: ProbabilityPool(
        (SelfExcitingHazard(h, c, name="hawkes_hazard"), DistrictHistoryRule(h)), HAZARD_BLEND_WEIGHTS,
        name="blend_hawkes_hazard_history"), history_weeks=lambda h: 52,
        history_measure=DistrictHistoryRule.history_measure),
}



def _recalibrated(base: str, method: str) -> Recipe:
    """The hazard recipe ``base`` with its probabilities recalibrated out of sample by ``method``
    (:class:`models.calibration.RecalibratedHazard`)."""
    recipe = HAZARD_RECIPES[base]
    return Recipe(lambda h, c: RecalibratedHazard(recipe.build(h, c), method, fit_horizon=recipe.fit_horizon,
                                                  name=f"{base}_{method}"),
                  recipe.history_weeks, recipe.fit_horizon, recipe.history_measure)


HAZARD_RECIPES |= {f"{base}_{method}": _recalibrated(base, method)
                   for base in ("hawkes_hazard", "hazard_cloglog", "hazard_cloglog_forces") for method in METHODS}

#: The pool of the force-aware self-exciting NB with IMAPA won the validation origins of both sources at both
#: horizons (bench/research.py); the self-exciting NB and the boosted model are its challengers. The force-aware
#: member lets a registry change move the forecasts.
DEFAULT_COUNT_CANDIDATES = ("pool_hawkes_forces_imapa", "hawkes_nb", "lgbm_boost")
DEFAULT_HAZARD_CANDIDATES = ("blend_hawkes_hazard_history", "hawkes_hazard", "hazard_cloglog", "hazard_cloglog_forces")

#: The self-exciting NB of a region with the country indicators as modifiers (a level per country).
COUNT_RECIPES["hawkes_nb_country"] = Recipe(lambda h, c: SelfExcitingNB(
    h, c, modifiers=(Select(family=COUNTRY_FAMILY),), l2=FORCE_L2, dispersion=SELF_EXCITING_ALPHA,
    name="hawkes_nb_country"))
PER_COUNTRY = "_per_country"


def _per_country(recipes: dict[str, Recipe], base: str, wrapper) -> Recipe:
    """The recipe ``base`` fitted once per country of a regional table (:mod:`models.per_country`)."""
    recipe = recipes[base]
    return Recipe(lambda h, c: wrapper(recipe.build(h, c), c, name=f"{base}{PER_COUNTRY}"),
                  recipe.history_weeks, recipe.fit_horizon, recipe.history_measure)


COUNT_RECIPES |= {f"{b}{PER_COUNTRY}": _per_country(COUNT_RECIPES, b, PerCountryCount)
                  for b in DEFAULT_COUNT_CANDIDATES}
HAZARD_RECIPES |= {f"{b}{PER_COUNTRY}": _per_country(HAZARD_RECIPES, b, PerCountryHazard)
                   for b in DEFAULT_HAZARD_CANDIDATES}


def regional_candidates(candidates: Sequence[str], n_countries: int) -> tuple[str, ...]:
    """The candidates of a run over ``n_countries`` countries: each pooled recipe and, for a region, its
    per-country version where the suite has one (the backtest compares them; the best may be promoted)."""
    if n_countries < 2:
        return tuple(candidates)
    known = COUNT_RECIPES.keys() | HAZARD_RECIPES.keys()
    return tuple(dict.fromkeys([*candidates, *(f"{c}{PER_COUNTRY}" for c in candidates if f"{c}{PER_COUNTRY}" in known)]))


def candidates_for(candidates: Sequence[str], catalog: Catalog) -> tuple[str, ...]:
    """:func:`regional_candidates` for a table of ``catalog``: a regional table (country indicators in the
    catalog) adds the per-country versions, one country's table keeps ``candidates``."""
    n_countries = sum(1 for spec in catalog_specs(catalog) if spec.family == COUNTRY_FAMILY)
    return regional_candidates(candidates, n_countries)


def _spec(recipes: dict[str, Recipe], kind: str, name: str, horizon: int, catalog: Catalog) -> ModelSpec:
    if name not in recipes:
        raise KeyError(f"unknown {kind} model {name!r}; known: {sorted(recipes)}")
    recipe, specs = recipes[name], catalog_specs(catalog)
    return ModelSpec(name, kind, horizon, lambda: recipe.build(horizon, specs), fit_horizon=recipe.fit_horizon,
                     history_weeks=recipe.history_weeks(horizon), history_measure=recipe.history_measure)


def count_spec(name: str, horizon: int, catalog: Catalog) -> ModelSpec:
    """The count entry ``name`` at ``horizon`` (weeks), its models reading the features of ``catalog``."""
    return _spec(COUNT_RECIPES, "count", name, horizon, catalog)


def hazard_spec(name: str, horizon: int, catalog: Catalog) -> ModelSpec:
    """The hazard entry ``name`` at ``horizon`` (weeks), its models reading the features of ``catalog``."""
    return _spec(HAZARD_RECIPES, "hazard", name, horizon, catalog)


def suite(horizons: Sequence[int], catalog: Catalog, count_candidates: Sequence[str] = DEFAULT_COUNT_CANDIDATES,
          hazard_candidates: Sequence[str] = DEFAULT_HAZARD_CANDIDATES, hazard_horizon: int = 4,
          baselines: Sequence[str] = BASELINES) -> list[ModelSpec]:
    """Baselines and candidates for every count horizon, and the hazard models of ``hazard_horizon``, all
    reading the features of ``catalog`` (``FeatureTable.specs``)."""
    catalog = catalog_specs(catalog)
    specs = [count_spec(n, h, catalog) for h in horizons for n in (*baselines, *count_candidates)]
    specs += [hazard_spec(n, hazard_horizon, catalog) for n in (*HAZARD_BASELINES, *hazard_candidates)]
    return specs


def slot_specs(specs: Sequence[ModelSpec], slot) -> list[ModelSpec]:
    """The entries of ``specs`` that compete for ``slot`` (a :class:`models.slots.Slot`): its kind and horizon."""
    return [s for s in specs if s.kind == slot.kind and s.horizon == slot.horizon]


def build(spec_name: str, kind: str, horizon: int, catalog: Catalog) -> Model:
    """A fresh, unfitted model of a suite entry (for the final fit on all rows)."""
    return (count_spec if kind == "count" else hazard_spec)(spec_name, horizon, catalog).factory()
