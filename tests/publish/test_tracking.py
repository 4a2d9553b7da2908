"""The MLflow door: the logged datasets' schema (cheap, and the same as MLflow's own inference)."""

import json

import mlflow
import numpy as np
import pandas as pd

from publish import tracking


def _frame(rows: int = 500) -> pd.DataFrame:
    late_gap = np.ones(rows)
    late_gap[-1] = np.nan  # missing only after the rows the types are read from
    return pd.DataFrame({
        "district_code": pd.array([f"ML{i % 7:04d}" for i in range(rows)], dtype="str"),
        "week": pd.date_range("2020-01-06", periods=rows, freq="7D"),
        "events": np.arange(rows, dtype=np.int64),
        "share": np.linspace(0.0, 1.0, rows, dtype=np.float32),
        "weeks_since": late_gap,
    })


def test_the_dataset_schema_matches_mlflows_inference_on_every_row():
    frame = _frame()
    ours = tracking.FrameDataset.of(frame, name="feature_table", digest="abc")
    with tracking._no_integer_hint():
        theirs = mlflow.data.from_pandas(frame, name="feature_table", digest="abc")
        expected = theirs.to_dict()["schema"]
    assert json.loads(ours.to_dict()["schema"]) == json.loads(expected)
    assert not next(s for s in ours.schema.inputs if s.name == "weeks_since").required
    assert ours.profile == {"num_rows": 500, "num_elements": 2500}
