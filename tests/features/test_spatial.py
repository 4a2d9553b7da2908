import numpy as np
import pandas as pd
import pytest

from features.gazetteer import Gazetteer
from features.spatial import (
    EARTH_RADIUS_KM,
    great_circle_km,
    kernel_matrix,
    neighbour_matrix,
    spatial_scopes,
)

DISTRICTS = pd.Index(["A", "B", "C", "D"], dtype="string")


def test_great_circle_km_known_distances():
    assert great_circle_km(0, 0, 0, 1) == pytest.approx(2 * np.pi * EARTH_RADIUS_KM / 360, rel=1e-12)
    assert great_circle_km(0, 0, 1, 0) == pytest.approx(111.195, abs=1e-3)
    assert great_circle_km(0, 10, 90, -50) == pytest.approx(np.pi / 2 * EARTH_RADIUS_KM, rel=1e-12)  # to the pole
    # a degree of longitude shrinks with cos(latitude)
    assert great_circle_km(60, 0, 60, 0.01) == pytest.approx(great_circle_km(0, 0, 0, 0.01) / 2, rel=1e-4)
    np.testing.assert_allclose(great_circle_km([12.6, 16.3], -8.0, 14.5, [-4.1, 0.0]),
                               great_circle_km(14.5, [-4.1, 0.0], [12.6, 16.3], -8.0))


def test_neighbour_matrix_from_pairs():
    pairs = pd.DataFrame({
        "district_code": ["A", "B", "B", "C", "A", "X", "A"],
        "neighbour_code": ["B", "A", "C", "B", "B", "A", "A"],  # A-B twice, X unknown, A-A a self pair
    })
    m = neighbour_matrix(pairs, DISTRICTS).toarray()
    np.testing.assert_array_equal(m, [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    assert m.dtype == np.float32
    x = np.array([[1, 0], [2, 0], [4, 1], [8, 8]], dtype=np.float32)
    np.testing.assert_array_equal(neighbour_matrix(pairs, DISTRICTS) @ x, [[2, 0], [5, 1], [2, 0], [0, 0]])


def test_kernel_matrix_weights_radius_and_no_self():
    # points on the equator 1 degree (111.2 km) apart: A-B 111 km, A-C 222 km, A-D 334 km
    centroids = pd.DataFrame({"district_code": ["D", "C", "B", "A"], "latitude": [0.0] * 4,
                              "longitude": [3.0, 2.0, 1.0, 0.0]})
    k = kernel_matrix(centroids, DISTRICTS, scale_km=100, radius_km=250).toarray()
    one = great_circle_km(0, 0, 0, 1)
    w1, w2 = np.exp(-one / 100), np.exp(-2 * one / 100)
    expected = np.array([[0, w1, w2, 0], [w1, 0, w1, w2], [w2, w1, 0, w1], [0, w2, w1, 0]])
    np.testing.assert_allclose(k, expected, rtol=1e-6)
    assert np.all(np.diag(k) == 0)


def test_kernel_matrix_needs_every_centroid():
    centroids = pd.DataFrame({"district_code": ["A", "B"], "latitude": [0.0, 0.0], "longitude": [0.0, 1.0]})
    with pytest.raises(ValueError, match="no centroid"):
        kernel_matrix(centroids, DISTRICTS, scale_km=100, radius_km=200)


def test_scopes_on_a_synthetic_grid():
    gazetteer = Gazetteer.synthetic(4)  # 2 x 2 grid: every cell touches the three others
    codes = pd.Index(gazetteer.districts["district_code"], dtype="string")
    scopes = spatial_scopes(gazetteer, codes, kernel_scale_km=100, kernel_radius_km=25)
    x = np.array([[1, 0, 3], [0, 2, 0], [5, 0, 0], [0, 0, 7]], dtype=np.float32)
    np.testing.assert_array_equal(scopes["own"].apply(x), x)
    np.testing.assert_array_equal(scopes["neighbours"].apply(x), x.sum(axis=0) - x)
    np.testing.assert_array_equal(scopes["national"].apply(x), [[6, 2, 10]])
    # 25 km radius: the two side neighbours (about 22 km) count, the diagonal one (31 km) does not
    kernel = scopes["kernel"].matrix.toarray()
    assert (kernel > 0).sum(axis=1).tolist() == [2, 2, 2, 2]
    assert kernel[0, 3] == 0 and kernel[0, 1] == pytest.approx(np.exp(-22.0 / 100), rel=0.01)
    assert scopes["kernel"].apply(x).dtype == np.float32


def test_only_requested_scopes_are_built():
    gazetteer = Gazetteer.synthetic(4)
    scopes = spatial_scopes(gazetteer, gazetteer.districts["district_code"], names=("own", "neighbours"))
    assert set(scopes) == {"own", "neighbours"}
    with pytest.raises(ValueError, match="unknown scopes"):
        spatial_scopes(gazetteer, gazetteer.districts["district_code"], names=("own", "region"))
