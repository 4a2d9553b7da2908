"""Benchmark of the feature build (features.table.build_feature_table). Prints figures; asserts nothing.

Two parts, each run in its own child process so that its peak memory is its own:

* ``mali``: the real ACLED export of Mali 1997-2020 (../shared/data/acled), parsed with
  features.sources.detect.read_events and placed with Gazetteer.load("MLI").assign (timed separately),
  then the feature table of the 50 districts x ~1,230 weeks, with and without the shipped registries.
  Target: build < 5 s.
* ``synthetic``: Gazetteer.synthetic(5000) and a normalized event table generated here with numpy
  (district-level rates, a seasonal cycle, negative-binomial weekly counts: millions of events), then
  the feature table of 5,000 districts x 1,000 weeks. Target: build < 2 min, peak memory < 6 GB.

Usage: ``.venv/bin/python bench/features_speed.py [--part mali|synthetic|all] [--districts N] [--weeks N]``.
Peak memory is the process's ru_maxrss (the whole child: data generation included); "RSS before build"
is the resident set just before the build starts.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from features.gazetteer import Gazetteer  # noqa: E402
from features.schema import VIOLENT_EVENT_TYPES, event_dtypes  # noqa: E402
from features.table import FeatureConfig, Registries, build_feature_table  # noqa: E402

ACLED_FILE = ROOT.parent / "shared" / "data" / "acled" / "mli_acled_1997-01-01_2020-07-31.csv"


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def rss_gb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 1024**3


def report(label: str, seconds: float, table) -> None:
    print(f"  {label}: {seconds:.2f} s, {len(table.specs)} features + {len(table.targets)} targets, "
          f"{len(table.frame):,} rows; peak RSS so far {peak_gb():.2f} GB")


def part_mali() -> None:
    print(f"[mali] {ACLED_FILE}")
    if not ACLED_FILE.exists():
        print("  ACLED file not found: part skipped")
        return
    t = time.perf_counter()
    events = read_events_file(ACLED_FILE)
    t_parse = time.perf_counter() - t
    gazetteer = Gazetteer.load("MLI")
    t = time.perf_counter()
    events = pd.concat([events, gazetteer.assign(events)], axis=1)
    t_assign = time.perf_counter() - t
    print(f"  parse: {t_parse:.2f} s ({len(events):,} events); assign: {t_assign:.2f} s "
          f"({int(events['district_code'].notna().sum()):,} placed)")
    registries = Registries.load("MLI")
    forecast = "2020-07-27"
    build_feature_table(events, gazetteer, start="1997-01-01", forecast_week=forecast)  # warm imports and caches
    for label, reg in (("build, actor registry only", None), ("build, all registries", registries)):
        t = time.perf_counter()
        table = build_feature_table(events, gazetteer, start="1997-01-01", forecast_week=forecast, registries=reg)
        report(label, time.perf_counter() - t, table)
    print(f"  {len(gazetteer.districts)} districts x {table.frame['week_start'].nunique()} weeks; "
          f"peak RSS {peak_gb():.2f} GB")


def read_events_file(path: Path) -> pd.DataFrame:
    from features.sources.detect import read_events

    return read_events(path)


#: Vocabulary of the synthetic events: (actor1, actor2) pairs by event type.
_ACTORS = {
    "Battles": [("JNIM: Group for Support of Islam and Muslims", "Military Forces of Mali (2021-)"),
                ("Islamic State (Sahel)", "Military Forces of Mali (2021-)"),
                ("Military Forces of Mali (2021-)", "JNIM: Group for Support of Islam and Muslims"),
                ("Dan Na Ambassagou", "Fulani Ethnic Militia (Mali)"),
                ("Unidentified Armed Group (Mali)", "MINUSMA: United Nations Multidimensional Integrated "
                 "Stabilization Mission in Mali (2013-)")],
    "Explosions/Remote violence": [("JNIM: Group for Support of Islam and Muslims", "Military Forces of Mali (2021-)"),
                                   ("Unidentified Armed Group (Mali)", None),
                                   ("Military Forces of France (2017-)", "Islamic State (Sahel)")],
    "Violence against civilians": [("JNIM: Group for Support of Islam and Muslims", "Civilians (Mali)"),
                                   ("Dan Na Ambassagou", "Civilians (Mali)"),
                                   ("Military Forces of Mali (2021-)", "Civilians (Mali)"),
                                   ("Unidentified Armed Group (Mali)", "Civilians (Mali)")],
    "Protests": [("Protesters (Mali)", None)],
    "Riots": [("Rioters (Mali)", "Civilians (Mali)")],
    "Strategic developments": [("Military Forces of Mali (2021-)", None)],
}


def synthetic_events(gazetteer: Gazetteer, start: pd.Timestamp, n_weeks: int, seed: int = 0) -> pd.DataFrame:
    """A normalized event table (features.schema columns and dtypes) plus district_code, made with numpy.

    Weekly violent counts per district are negative binomial (mean = a log-normal district rate times a
    seasonal factor, dispersion 1.5); non-violent events are Poisson at 0.05 per district-week. Each event
    gets a uniform day of its week, a type, an (actor1, actor2) pair from :data:`_ACTORS`, fatalities
    (0 with probability 0.4, else 1 + floor(lognormal)) and its district's representative point.
    """
    rng = np.random.default_rng(seed)
    districts = gazetteer.districts["district_code"].to_numpy(dtype=object)
    n_d = len(districts)
    rate = np.exp(rng.normal(np.log(0.25), 1.0, n_d))
    season = 1 + 0.35 * np.cos(2 * np.pi * (np.arange(n_weeks) - 6) / 52.18)
    mean = rate[:, None] * season[None, :]
    k = 1.5
    violent = rng.poisson(rng.gamma(k, mean / k)).ravel()
    other = rng.poisson(0.05, n_d * n_weeks)
    cell = np.concatenate([np.repeat(np.arange(n_d * n_weeks), violent), np.repeat(np.arange(n_d * n_weeks), other)])
    n_violent, n = int(violent.sum()), len(cell)
    d_idx, w_idx = np.divmod(cell, n_weeks)

    types = list(_ACTORS)
    type_idx = np.concatenate([rng.choice(3, n_violent, p=[0.45, 0.2, 0.35]), rng.choice([3, 4, 5], n - n_violent)])
    pairs = [(t, a1, a2) for t in types for a1, a2 in _ACTORS[t]]
    pair_type = np.array([types.index(t) for t, _, _ in pairs])
    first_pair = np.searchsorted(pair_type, np.arange(len(types)))
    n_pairs = np.bincount(pair_type, minlength=len(types))
    pair_idx = first_pair[type_idx] + (rng.random(n) * n_pairs[type_idx]).astype(np.int64)
    actor1 = pd.array([a1 for _, a1, _ in pairs], dtype="string").take(pair_idx)
    actor2 = pd.array([a2 for _, _, a2 in pairs], dtype="string").take(pair_idx)
    fatalities = np.where(rng.random(n) < 0.4, 0, 1 + np.floor(rng.lognormal(0.6, 1.2, n))).astype(np.int64)
    fatalities[type_idx >= 3] = 0
    days = np.datetime64(start.date(), "D") + (7 * w_idx + rng.integers(0, 7, n)).astype("timedelta64[D]")
    centroids = gazetteer.centroids()
    dtypes = event_dtypes()
    columns = {
        "event_id": pd.array(np.char.add("SIM", np.arange(n).astype("U")), dtype="string"),
        "source": pd.array(["simulated"], dtype="string").take(np.zeros(n, dtype=np.int64)),
        "event_date": days.astype("datetime64[s]"),
        "country_iso3": pd.array([gazetteer.country_iso3], dtype="string").take(np.zeros(n, dtype=np.int64)),
        "admin1": pd.array(gazetteer.districts["admin1_name"].to_numpy(dtype=object), dtype="string").take(d_idx),
        "admin2": pd.array(gazetteer.districts["district_name"].to_numpy(dtype=object), dtype="string").take(d_idx),
        "location": pd.array([None], dtype="string").take(np.zeros(n, dtype=np.int64)),
        "latitude": pd.array(centroids["latitude"].to_numpy()[d_idx], dtype="Float64"),
        "longitude": pd.array(centroids["longitude"].to_numpy()[d_idx], dtype="Float64"),
        "geo_precision": pd.array(np.ones(n, dtype=np.int8), dtype="Int8"),
        "time_precision": pd.array(np.ones(n, dtype=np.int8), dtype="Int8"),
        "event_type": pd.array(types, dtype="string").take(type_idx),
        "sub_event_type": pd.array([None], dtype="string").take(np.zeros(n, dtype=np.int64)),
        "actor1": actor1,
        "actor2": actor2,
        "assoc_actors": pd.array([None], dtype="string").take(np.zeros(n, dtype=np.int64)),
        "interaction": pd.array([None], dtype="string").take(np.zeros(n, dtype=np.int64)),
        "fatalities": pd.array(fatalities, dtype="Int64"),
        "notes": pd.array([None], dtype="string").take(np.zeros(n, dtype=np.int64)),
        "source_timestamp": pd.Series(pd.NaT, index=range(n), dtype=dtypes["source_timestamp"]),
        "district_code": pd.array(districts, dtype="string").take(d_idx),
    }
    frame = pd.DataFrame(columns, copy=False)
    assert sum(frame[c].dtype == dtypes[c] for c in dtypes) == len(dtypes), "dtypes differ from the schema"
    return frame


def part_synthetic(n_districts: int, n_weeks: int) -> None:
    print(f"[synthetic] {n_districts:,} districts x {n_weeks:,} weeks")
    t = time.perf_counter()
    gazetteer = Gazetteer.synthetic(n_districts)
    t_gaz = time.perf_counter() - t
    start = pd.Timestamp("2000-01-03")
    t = time.perf_counter()
    events = synthetic_events(gazetteer, start, n_weeks)
    t_events = time.perf_counter() - t
    violent = int(events["event_type"].isin(VIOLENT_EVENT_TYPES).sum())
    print(f"  gazetteer: {t_gaz:.2f} s; events generated: {t_events:.2f} s ({len(events):,} events, "
          f"{violent:,} violent)")
    forecast = start + pd.Timedelta(weeks=n_weeks - 1)
    print(f"  RSS before build {rss_gb():.2f} GB (peak so far {peak_gb():.2f} GB)")
    t = time.perf_counter()
    table = build_feature_table(events, gazetteer, start=start, forecast_week=forecast, config=FeatureConfig())
    seconds = time.perf_counter() - t
    report("build", seconds, table)
    n_cells = len(table.frame)
    data_gb = sum(table.frame[c].to_numpy().nbytes for c in table.frame.columns if c != "district_code") / 1024**3
    print(f"  {n_cells:,} district-weeks; frame numeric data {data_gb:.2f} GB; "
          f"RSS after build {rss_gb():.2f} GB; peak RSS {peak_gb():.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("mali", "synthetic", "all"), default="all")
    parser.add_argument("--districts", type=int, default=5000)
    parser.add_argument("--weeks", type=int, default=1000)
    args = parser.parse_args()
    if args.part == "mali":
        part_mali()
    elif args.part == "synthetic":
        part_synthetic(args.districts, args.weeks)
    else:
        for part in ("mali", "synthetic"):
            subprocess.run([sys.executable, __file__, "--part", part, "--districts", str(args.districts),
                            "--weeks", str(args.weeks)], check=True)


if __name__ == "__main__":
    main()
