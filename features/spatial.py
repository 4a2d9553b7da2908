"""Spatial aggregation of district-week arrays: neighbouring districts, a distance kernel, national totals.

A :class:`Scope` turns an ``(n_districts, n_weeks)`` array of weekly values into the same quantity seen
from somewhere else, week by week (no time shift: the time windows are applied afterwards, and they
commute with these linear maps):

* ``own``: the district itself;
* ``neighbours``: the sum over the district's queen neighbours (the gazetteer's ``neighbours`` table),
  a sparse 0/1 adjacency matrix times the array;
* ``kernel``: the sum over every *other* district whose representative point lies within ``radius_km``
  great-circle kilometres, weighted by ``exp(-distance_km / scale_km)`` (a sparse matrix);
* ``national``: the total over all districts of the panel (the district included), a ``(1, n_weeks)``
  series broadcast to every district.

Units: kilometres are great-circle distances on a sphere of radius :data:`EARTH_RADIUS_KM` between the
representative points of :meth:`features.gazetteer.Gazetteer.centroids`; weights are unitless, so a
scoped array keeps the unit of its measure (events, deaths).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

#: Mean Earth radius (km).
EARTH_RADIUS_KM = 6371.0088

SCOPES: tuple[str, ...] = ("own", "neighbours", "kernel", "national")
#: How each scope starts the names of its features (see :func:`features.attacks.window_name`).
SCOPE_PREFIXES: dict[str, str] = {"own": "", "neighbours": "nbr_", "kernel": "kernel_", "national": "national_"}


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance in km between points given in degrees (arrays broadcast)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _positions(codes: pd.Series, districts: pd.Index) -> np.ndarray:
    return pd.Index(districts, dtype="string").get_indexer(pd.Index(codes.astype("string"), dtype="string"))


def neighbour_matrix(neighbours: pd.DataFrame, districts: pd.Index) -> sparse.csr_matrix:
    """(n, n) float32 0/1 matrix, row d holding d's neighbours among ``districts`` (no self pairs).

    ``neighbours`` has district_code, neighbour_code (the gazetteer's queen contiguity table); pairs with
    a district outside ``districts`` are ignored, duplicate pairs count once.
    """
    n = len(districts)
    i = _positions(neighbours["district_code"], districts)
    j = _positions(neighbours["neighbour_code"], districts)
    keep = (i >= 0) & (j >= 0) & (i != j)
    m = sparse.coo_matrix((np.ones(int(keep.sum()), dtype=np.float32), (i[keep], j[keep])), shape=(n, n)).tocsr()
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def kernel_matrix(centroids: pd.DataFrame, districts: pd.Index, *, scale_km: float,
                  radius_km: float) -> sparse.csr_matrix:
    """(n, n) float32 weights exp(-d / scale_km) for pairs of distinct districts within ``radius_km``.

    ``centroids`` has district_code, latitude, longitude (degrees). Pairs are found with a k-d tree on
    points of the sphere (chord distances), so the cost grows with the number of pairs, not n².
    """
    if scale_km <= 0 or radius_km <= 0:
        raise ValueError("scale_km and radius_km must be > 0")
    n = len(districts)
    by_code = centroids.set_index(pd.Index(centroids["district_code"].astype("string"), dtype="string"))
    by_code = by_code[~by_code.index.duplicated()].reindex(pd.Index(districts, dtype="string"))
    lat = by_code["latitude"].to_numpy(dtype=np.float64, na_value=np.nan)
    lon = by_code["longitude"].to_numpy(dtype=np.float64, na_value=np.nan)
    missing = ~(np.isfinite(lat) & np.isfinite(lon))
    if missing.any():
        raise ValueError(f"no centroid for districts {list(pd.Index(districts)[missing][:10])}")
    phi, lam = np.radians(lat), np.radians(lon)
    xyz = EARTH_RADIUS_KM * np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    chord = 2 * EARTH_RADIUS_KM * np.sin(min(radius_km / (2 * EARTH_RADIUS_KM), np.pi / 2))
    pairs = cKDTree(xyz).query_pairs(chord * (1 + 1e-9), output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    km = great_circle_km(lat[i], lon[i], lat[j], lon[j])
    keep = km <= radius_km
    i, j, w = i[keep], j[keep], np.exp(-km[keep] / scale_km).astype(np.float32)
    rows, cols = np.concatenate([i, j]), np.concatenate([j, i])
    return sparse.coo_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n)).tocsr()


@dataclass(frozen=True)
class Scope:
    """Where a measure is summed: see the module docstring.

    ``prefix`` starts the names of the scope's features (empty for ``own``), ``phrase`` completes their
    descriptions ("in the district", ...). ``matrix`` is the sparse weight matrix (neighbours, kernel);
    ``groups``, for ``national`` over several countries, the position of each district's country.
    """

    name: str
    prefix: str
    phrase: str
    matrix: sparse.csr_matrix | None = None
    groups: np.ndarray | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(n_d, n_w) float32 for own / matrix scopes; (1, n_w) float64 totals for ``national`` of one country,
        (n_d, n_w) float64 for several (each district gets its own country's total)."""
        if self.name == "national":
            if self.groups is None:
                return x.sum(axis=0, dtype=np.float64)[None, :]
            n = len(self.groups)
            membership = sparse.csr_matrix((np.ones(n), (self.groups, np.arange(n))))
            return np.asarray(membership @ x.astype(np.float64))[self.groups]
        if self.matrix is None:
            return x
        return np.asarray(self.matrix @ x, dtype=np.float32)


def spatial_scopes(gazetteer, districts: pd.Index, *, names: Iterable[str] = SCOPES, kernel_scale_km: float = 100.0,
                   kernel_radius_km: float = 200.0) -> dict[str, Scope]:
    """The scopes ``names`` (default: all four) for the panel's ``districts``, from a
    :class:`features.gazetteer.Gazetteer`; only the matrices of the requested scopes are built."""
    names = set(names)
    unknown = names - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; expected some of {SCOPES}")
    districts = pd.Index(districts, dtype="string")
    countries = gazetteer.country_of(districts).to_numpy(dtype=object) if len(gazetteer.countries) > 1 else None
    groups = None if countries is None else pd.factorize(countries)[0]
    scopes = {"own": Scope("own", SCOPE_PREFIXES["own"], "in the district"),
              "national": Scope("national", SCOPE_PREFIXES["national"], "summed over all districts of the country",
                                groups=groups)}
    if "neighbours" in names:
        scopes["neighbours"] = Scope("neighbours", SCOPE_PREFIXES["neighbours"],
                                     "summed over the neighbouring districts (queen contiguity)",
                                     neighbour_matrix(gazetteer.neighbours, districts))
    if "kernel" in names:
        scopes["kernel"] = Scope(
            "kernel", SCOPE_PREFIXES["kernel"],
            f"summed over the other districts within {kernel_radius_km:g} km, weighted by exp(-distance / "
            f"{kernel_scale_km:g} km)",
            kernel_matrix(gazetteer.centroids(), districts, scale_km=kernel_scale_km, radius_km=kernel_radius_km))
    return {name: scope for name, scope in scopes.items() if name in names}
