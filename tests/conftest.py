"""Shared fixtures: the ../shared data folder, an isolated Vigie home, one Prefect test server per session,
and a throw-away PostgreSQL database on the real server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Prefect reads its home at import: point it at a git-ignored folder before anything imports prefect, one per
# pytest-xdist worker (the temporary servers of the runs tested without an API keep their database there).
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".vigie" / f"prefect-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"))
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# Prefect sets up its console log handler on the stream it finds when first imported: import it now, on the
# real stderr, rather than inside a CliRunner invocation whose captured stream is closed afterwards.
from prefect.logging.configuration import setup_logging  # noqa: E402

setup_logging()

SHARED = ROOT.parent / "shared"
ACLED_FILE = SHARED / "data" / "acled" / "mli_acled_1997-01-01_2020-07-31.csv"
POSTGRES_URL = os.environ.get("VIGIE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def acled_file() -> Path:
    if not ACLED_FILE.exists():
        pytest.skip(f"real ACLED data not found at {ACLED_FILE} (the ../shared folder is not beside the repository)")
    return ACLED_FILE


@pytest.fixture
def vigie_settings(tmp_path):
    from flows.settings import Settings

    settings = Settings(home=tmp_path / "vigie")
    settings.ensure_dirs()
    return settings


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (per xdist worker; starting one costs ~10 s, minutes on
    a loaded machine: the wait is long so that a slow start never fails a test)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=600):
        yield


def _postgres_reachable(url: str) -> str | None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as con:
            con.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # no server answers
        return f"no PostgreSQL server answers at {url}: {type(exc).__name__}"


@pytest.fixture
def postgres_url():
    """URL of a fresh database on the real PostgreSQL server, dropped afterwards."""
    import sqlalchemy as sa

    reason = _postgres_reachable(POSTGRES_URL)
    if reason:
        pytest.skip(reason)
    name = f"vigie_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as con:
        con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
