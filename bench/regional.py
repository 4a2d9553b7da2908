"""Pooled against per-country models on a simulated region of two bordering countries.

    .venv/bin/python bench/regional.py [--seed 5] [--refit-every 13]

The fictional Arcadia (XAA, six districts) and Bellmark (XAB, four districts east of it, no population table)
of tests/fixtures/countries are simulated together (one self-exciting process, violence spilling over the
border; 2014-2019), their events placed by the combined gazetteer, and the region's feature table built with
cross-border neighbours and the country indicators. The walk-forward backtest (origins 2017-01-02 ..
2019-11-25, h = 1 and 4) compares each shipped count recipe fitted once on all districts (pooled; the
boosted model and ``hawkes_nb_country`` read the country indicators) with the same recipe fitted per country
(``<recipe>_per_country``), and prints the mean CRPS over the region and per country. Simulated data: it shows
that the comparison runs and which way it goes when one country is far quieter, not what real countries do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.country import country_roots, load_country  # noqa: E402
from features.gazetteer import Gazetteer  # noqa: E402
from features.ingest import simulated_country  # noqa: E402
from features.sources.detect import read_events  # noqa: E402
from features.sources.simulator import simulate_region, write_simulation  # noqa: E402
from features.table import FeatureConfig, Registries, build_feature_table  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestConfig, run_backtest  # noqa: E402

COUNTRIES = ("XAA", "XAB")
MODELS = ("mean_52", "imapa", "hawkes_nb", "hawkes_nb_country", *suite.DEFAULT_COUNT_CANDIDATES)


def region_table(seed: int):
    members = [load_country(iso3, country_roots(ROOT / "tests" / "fixtures" / "countries")) for iso3 in COUNTRIES]
    region = Gazetteer.combine([Gazetteer.load(c.iso3, c.root) for c in members])
    result = simulate_region(region.districts, region.neighbours, {c.iso3: simulated_country(c) for c in members},
                             start=date(2014, 1, 6), end=date(2019, 12, 29), seed=seed,
                             district_countries=region.district_countries)
    with tempfile.TemporaryDirectory() as out:
        events = read_events(write_simulation(result, Path(out))["events"])
    events = events.assign(district_code=region.assign(events)["district_code"])
    registries = Registries.combine({c.iso3: Registries.load(c) for c in members})
    table = build_feature_table(events, region, start="2014-01-06", forecast_week="2019-12-30",
                                config=FeatureConfig(horizons=(1, 4)), registries=registries)
    return table, region


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--refit-every", type=int, default=13)
    args = parser.parse_args(argv)
    table, region = region_table(args.seed)
    names = suite.regional_candidates(MODELS, n_countries=len(COUNTRIES))
    specs = [suite.count_spec(n, h, table.specs) for h in (1, 4) for n in names]
    result = run_backtest(table, specs, BacktestConfig(start="2017-01-02", end="2019-11-25",
                                                       refit_every=args.refit_every, train_start="2014-01-06"))
    pred = result.predictions.assign(country=region.country_of(result.predictions["district_code"]).to_numpy())
    whole = pred.groupby(["model", "horizon"])["crps"].mean().unstack("horizon")
    by_country = pred.groupby(["model", "country", "horizon"])["crps"].mean().unstack(["country", "horizon"])
    print(f"simulated {'+'.join(COUNTRIES)} (seed {args.seed}), {pred['origin'].nunique()} origins, "
          f"refit every {args.refit_every}; mean CRPS (lower is better)")
    print(f"{'model':<40}{'h=1':>8}{'h=4':>8}" + "".join(f"{c + ' h=' + str(h):>12}" for c, h in by_country.columns))
    for model in whole.sort_values(4).index:
        row = by_country.loc[model]
        print(f"{model:<40}{whole.loc[model, 1]:>8.4f}{whole.loc[model, 4]:>8.4f}"
              + "".join(f"{row[col]:>12.4f}" for col in by_country.columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
