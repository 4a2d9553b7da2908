"""The model suite: every registered entry builds, fits and predicts under the backtest; the default candidates
beat the rolling means on a self-exciting panel."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from features.attacks import window_spec
from features.panel import Panel
from features.seasonality import SEASON_COS, SEASON_SIN
from features.spec import select
from features.table import FeatureTable
from features.windows import decayed_sum, future_sum, past_sum
from models import suite
from models.backtest import BacktestConfig, run_backtest
from models.baselines import attach_history, history_columns
from models.protocol import CountModel, HazardModel
from models.self_exciting import SelfExcitingHazard, SelfExcitingNB
from models.training import model_rows

WEEK = pd.Timedelta(days=7)


def self_exciting_table(n_d: int = 30, n_w: int = 220, seed: int = 3) -> FeatureTable:
    """Weekly counts of a self-exciting NB process on a ring of districts, with the history features the
    candidates read (own / neighbour sums and decayed sums, major attacks, season) and the targets."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.5, 0.1, n_d)
    x = np.zeros((n_d, n_w))
    own = np.zeros(n_d)
    rho = 0.5 ** (1 / 4)
    for t in range(n_w):
        nbr = np.roll(own, 1) + np.roll(own, -1)
        lam = base + 0.12 * own + 0.02 * nbr
        x[:, t] = rng.poisson(rng.gamma(2.0, lam / 2.0))
        own = rho * own + x[:, t]
    weeks = pd.DatetimeIndex(pd.date_range("2015-01-05", periods=n_w, freq="7D").astype("datetime64[s]"),
                             name="week_start")
    districts = pd.Index([f"D{i:02d}" for i in range(n_d)], dtype="string", name="district_code")
    major = (x >= 3).astype(float)
    panel = Panel(districts, weeks, {"violent_events": x.astype(np.float32), "major_attacks": major.astype(np.float32)})
    frame = panel.long_index()
    nbr_x = np.roll(x, 1, axis=0) + np.roll(x, -1, axis=0)
    cols, specs = {}, []

    def add(spec, values):
        specs.append(spec)
        cols[spec.name] = values

    for w in (1, 2, 4, 8, 13, 26, 52):
        add(window_spec("violent_events", "sum", window=w), past_sum(x, w))
    for hl in (1, 4, 13, 52):
        add(window_spec("violent_events", "ewm", half_life=hl), decayed_sum(x, hl))
    for w in (4, 13, 52):
        add(window_spec("violent_events", "sum", scope="neighbours", window=w, family="neighbours"), past_sum(nbr_x, w))
        add(window_spec("major_attacks", "sum", window=w), past_sum(major, w))
        add(window_spec("major_attacks", "sum", scope="neighbours", window=w, family="neighbours"),
            past_sum(np.roll(major, 1, axis=0) + np.roll(major, -1, axis=0), w))
    add(window_spec("major_attacks", "ewm", half_life=4), decayed_sum(major, 4))
    add(window_spec("fatalities", "sum", window=13), 2 * past_sum(x, 13))
    add(window_spec("fatalities", "ewm", half_life=4), 2 * decayed_sum(x, 4))
    doy = np.tile(weeks.dayofyear.to_numpy(), (n_d, 1))
    add(SEASON_SIN, np.sin(2 * np.pi * doy / 365.25))
    add(SEASON_COS, np.cos(2 * np.pi * doy / 365.25))
    for name, arr in cols.items():
        frame[name] = arr.ravel()
    targets = []
    for h in (1, 4):
        frame[f"target_violent_events_h{h}"] = future_sum(x, h).ravel()
        frame[f"target_major_attack_h{h}"] = np.minimum(future_sum(major, h), 1.0).ravel()
        targets += [f"target_violent_events_h{h}", f"target_major_attack_h{h}"]
    return FeatureTable(frame, specs, targets, weeks[-1] + WEEK, panel)


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return self_exciting_table()


def test_every_registered_name_builds_a_fresh_model_of_its_kind(table):
    catalog = table.specs
    for name in suite.COUNT_RECIPES:
        model = suite.build(name, "count", 4, catalog)
        assert model.horizon == 4 and isinstance(model, CountModel)
    for name in suite.HAZARD_RECIPES:
        model = suite.build(name, "hazard", 4, catalog)
        assert isinstance(model, HazardModel)
    assert set(suite.DEFAULT_COUNT_CANDIDATES) <= set(suite.COUNT_RECIPES)
    assert set(suite.DEFAULT_HAZARD_CANDIDATES) <= set(suite.HAZARD_RECIPES)
    from flows.settings import Training

    training = Training()  # the weekly flow's defaults are the suite's
    assert (training.count_candidates, training.hazard_candidates) == (suite.DEFAULT_COUNT_CANDIDATES,
                                                                       suite.DEFAULT_HAZARD_CANDIDATES)
    assert suite.build("hawkes_nb", "count", 1, catalog) is not suite.build("hawkes_nb", "count", 1, catalog)
    with pytest.raises(KeyError):
        suite.count_spec("no_such_model", 1, catalog)
    with pytest.raises(TypeError, match="FeatureSpec"):
        suite.count_spec("nb_glm", 1, table.feature_names)  # the catalog is specs, not names


def test_default_candidates_use_the_validation_settings(table):
    catalog = table.specs
    hawkes = suite.build("hawkes_nb", "count", 4, catalog)
    assert isinstance(hawkes, SelfExcitingNB) and hawkes.dispersion == suite.SELF_EXCITING_ALPHA == 0.3
    boost = suite.build("lgbm_boost", "count", 4, catalog)
    assert boost.n_estimators == 50 and boost.base.dispersion == 0.3
    assert boost.requested_features == [s.name for s in select(catalog, suite.BOOST_FEATURES)]
    assert boost.requested_features and "major_attacks_sum_w13" not in boost.requested_features
    nb = suite.build("nb_glm", "count", 1, catalog)
    assert nb.l2 == 0.01
    assert isinstance(suite.build("hawkes_hazard", "hazard", 4, catalog), SelfExcitingHazard)
    specs = suite.suite((1, 4), catalog)
    names = [(s.name, s.horizon) for s in specs]
    assert len(names) == len(set(names))
    assert ("hawkes_nb", 1) in names and ("lgbm_boost", 4) in names and ("hawkes_hazard", 4) in names
    assert next(s for s in specs if s.name == "hazard_cloglog").training_horizon == 1


def test_default_candidates_beat_the_rolling_means_in_a_walk_forward_backtest(table):
    specs = suite.suite((1, 4), table.specs, baselines=("mean_13", "mean_52"))
    config = BacktestConfig(start=table.panel.weeks[150], end=table.panel.weeks[-1], refit_every=13)
    result = run_backtest(table, specs, config)
    crps = result.table(["crps"])["crps"]
    for h in (1, 4):
        best_base = crps.loc[["mean_13", "mean_52"], h].min()
        assert crps.loc["hawkes_nb", h] < 0.97 * best_base, h
        assert crps.loc["lgbm_boost", h] < best_base, h
    brier = result.metrics.query("kind == 'hazard' and metric == 'brier'").set_index("model")["value"]
    assert brier["hawkes_hazard"] < brier["base_rate"]
    assert (result.fits["n_train"] > 0).all()


def test_fitted_default_candidates_pickle_and_explain(table):
    rows = table.frame[table.frame["target_violent_events_h4"].notna()]
    for name in suite.DEFAULT_COUNT_CANDIDATES:
        model = suite.build(name, "count", 4, table.specs)
        rows = model_rows(model, table, rows)
        model.fit(rows, rows["target_violent_events_h4"].to_numpy())
        clone = pickle.loads(pickle.dumps(model))
        tail = rows.tail(30)
        np.testing.assert_allclose(clone.predict(tail).mean, model.predict(tail).mean)
        contrib = model.contributions(tail)
        assert contrib.index.equals(tail.index) and np.isfinite(contrib.to_numpy()).all()
        example = rows[model.input_columns()].head(5)  # what the weekly flow logs as the MLflow example
        assert np.isfinite(model.predict(example).mean).all()


def test_every_suite_entry_follows_the_contract(table):
    """Each entry's spec declares the built model's history; after fit the model declares the columns it reads,
    all of them columns of the frame it was fitted on, and it predicts from those columns alone."""
    rows = table.frame[table.frame["target_violent_events_h4"].notna()]
    for kind, recipes in (("count", suite.COUNT_RECIPES), ("hazard", suite.HAZARD_RECIPES)):
        for name in recipes:
            spec = (suite.count_spec if kind == "count" else suite.hazard_spec)(name, 4, table.specs)
            model = spec.factory()
            assert isinstance(model, CountModel if kind == "count" else HazardModel), name
            assert spec.history_weeks == model.history_weeks, name
            assert spec.history_measure == model.history_measure, name
            readable = set(table.frame.columns) | set(history_columns(spec.history_weeks, spec.history_measure))
            assert set(model.input_columns()) <= readable, name
            X = attach_history(table, rows, spec.history_weeks, spec.history_measure) if spec.history_weeks else rows
            target = (f"target_violent_events_h{spec.training_horizon}" if kind == "count"
                      else f"target_major_attack_h{spec.training_horizon}")
            model.fit(X, X[target].to_numpy())
            columns = model.input_columns()
            assert (columns or name == "zero") and set(columns) <= set(X.columns), name  # zero reads nothing
            assert not any(c.startswith("target_") for c in columns), name
            tail = X.tail(20)
            if kind == "count":
                np.testing.assert_allclose(model.predict(tail[columns]).mean, model.predict(tail).mean, err_msg=name)
            else:
                np.testing.assert_allclose(model.predict_proba(tail[columns]), model.predict_proba(tail), err_msg=name)
            contrib = model.contributions(tail)
            assert contrib is None or contrib.index.equals(tail.index), name


# ---------------------------------------------------------------------- force-aware entries


@pytest.fixture(scope="module")
def two_registries():
    """Feature tables of the shipped UCDP events at the week after the data end, under the shipped registry and
    under one where MINUSMA's two camps in the Tombouctou cercle (Timbuktu and Ber) closed on 2022-12-14
    instead of in 2023 (a withdrawal 2 weeks before the forecast week, nobody taking it over)."""
    from features.gazetteer import Gazetteer
    from features.ingest import shipped_events
    from features.sources.detect import read_events
    from features.table import Registries, build_feature_table
    from flows.settings import Settings

    settings, gazetteer = Settings(), Gazetteer.load("MLI")
    events = read_events(shipped_events("MLI")[0])
    events = events.assign(district_code=gazetteer.assign(events)["district_code"])
    shipped = Registries.load("MLI")
    forces = shipped.forces.copy()
    forces.loc[forces["deployment_id"].isin(["minusma-timbuktu", "minusma-ber"]), "end"] = pd.Timestamp("2022-12-14")
    changed = Registries(shipped.actor_families, shipped.foreign_force_actors, forces, shipped.calendar)
    week = pd.Timestamp("2023-01-02")
    tables = [build_feature_table(events, gazetteer, start=settings.history_start(), forecast_week=week,
                                  config=settings.feature_config(), registries=r) for r in (shipped, changed)]
    town = gazetteer.districts.set_index("district_name")["district_code"]["Tombouctou"]
    nbrs = set(gazetteer.neighbours.loc[gazetteer.neighbours["district_code"] == town, "neighbour_code"])
    return tables, week, town, nbrs


def test_a_withdrawal_in_the_registry_moves_the_force_aware_forecasts_there_and_next_door(two_registries):
    (table, changed), week, town, nbrs = two_registries
    rows = table.frame["week_start"] < week - 4 * WEEK
    train = table.frame[rows & table.frame["target_violent_events_h1"].notna()]
    now = table.frame[table.frame["week_start"] == week].set_index("district_code")
    now_changed = changed.frame[changed.frame["week_start"] == week].set_index("district_code")
    differs = (now[[s.name for s in table.specs]] != now_changed[[s.name for s in table.specs]])
    assert differs.loc[town, ["ff_peacekeeping_bases", "ff_vacuum_w26", "ff_base_closed_w13"]].all()
    assert (now_changed.loc[sorted(nbrs), "ff_vacuum_nbr_w26"] == 1).all()  # some had one already (Gao, 2022-08)
    had_none = [d for d in sorted(nbrs) if now.loc[d, "ff_vacuum_nbr_w26"] == 0]
    assert had_none and differs.loc[had_none, "ff_vacuum_nbr_w26"].all()
    elsewhere = sorted(set(now.index) - {town} - nbrs)
    spatial = [c for c in differs.columns if c.endswith("_nearest_km")]
    assert not differs.loc[elsewhere].drop(columns=spatial).any().any()  # only the distance terms move there

    count = suite.build("hawkes_nb_forces", "count", 1, table.specs).fit(train, train["target_violent_events_h1"])
    blind = suite.build("hawkes_nb", "count", 1, table.specs).fit(train, train["target_violent_events_h1"])
    before, after = count.predict_mean(now), count.predict_mean(now_changed.loc[now.index])
    moved = pd.Series(np.log(after / before), index=now.index)
    assert (moved.loc[[town, *had_none]].abs() > 1e-3).all()
    # The direction is the fitted effect's: the change of the force terms' contributions, term by term.
    terms = count.contributions(now_changed.loc[now.index]) - count.contributions(now)
    assert np.allclose(terms.sum(axis=1), moved, atol=1e-9)
    assert np.sign(moved[town]) == np.sign(terms.loc[town].sum()) != 0
    still = [d for d in now.index if not differs.loc[d].any()]  # Bourem: its neighbour vacuum was already on
    assert len(still) > 10 and np.allclose(moved.loc[still], 0.0)
    assert np.allclose(blind.predict_mean(now), blind.predict_mean(now_changed.loc[now.index]))

    hazard_train = table.frame[rows & table.frame["target_major_attack_h1"].notna()]
    hazard = suite.build("hazard_cloglog_forces", "hazard", 4, table.specs).fit(
        hazard_train, hazard_train["target_major_attack_h1"])
    assert abs(hazard.predict_proba(now_changed.loc[now.index])[now.index.get_loc(town)]
               - hazard.predict_proba(now)[now.index.get_loc(town)]) > 1e-6
