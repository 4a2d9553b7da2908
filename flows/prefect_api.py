"""The Prefect API a command runs its flows against.

A scheduled run (a worker, or any process with ``PREFECT_API_URL`` set) uses its server and starts none.
Otherwise ``vigie`` starts one temporary ``prefect server start`` on loopback for the whole command, waits
for it as long as ``settings.prefect_startup_timeout_seconds`` (600 s by default: a loaded 2-core machine
can take minutes), and stops it at the end. The server is started so that the kernel stops it when the
``vigie`` process dies, even by ``kill -9``: no orphaned server is left behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from publish.progress import LOGGERS, StepProgress

PR_SET_PDEATHSIG = 1


class PrefectUnavailable(RuntimeError):
    """No Prefect API could be reached or started."""


def configured_api_url() -> str | None:
    """The API the current process is configured for (environment, profile or a test harness), if any."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _console_handlers() -> list[logging.Handler]:
    """Prefect's console handlers (the ones printing run log lines to the terminal; Prefect puts one on the
    root logger)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in ("prefect", *LOGGERS))]
    return list({id(h): h for lg in loggers for h in lg.handlers if isinstance(h, PrefectConsoleHandler)}.values())


@contextmanager
def step_progress(console, title: str):
    """Show the run's steps as one progress line while the body runs when ``console`` (rich) is a terminal,
    holding back Prefect's console lines below WARNING meanwhile; off a terminal, Prefect's lines as they are.
    Yields the :class:`publish.progress.StepProgress` handler, or None."""
    if not console.is_terminal:
        yield None
        return
    handler = StepProgress(console, title)
    quieted = [(h, h.level) for h in _console_handlers()]
    for h, _ in quieted:
        h.setLevel(logging.WARNING)
    for name in LOGGERS:
        logging.getLogger(name).addHandler(handler)
    handler.progress.start()
    try:
        yield handler
    finally:
        handler.progress.stop()
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        for h, level in quieted:
            h.setLevel(level)


def task_runner(choice: str, dask_workers: int = 2, threads: int | None = None):
    """The Prefect task runner of the ``task_runner`` setting: "threads" (in-process, ``threads`` at once), "dask" (a local Dask
    cluster of ``dask_workers`` single-threaded worker processes, started and stopped with the flow run) or a
    Dask scheduler's address (tcp://host:8786, an existing cluster)."""
    if choice == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=threads)
    from prefect_dask import DaskTaskRunner

    if choice == "dask":
        return DaskTaskRunner(cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    return DaskTaskRunner(address=choice)


def with_task_runner(flow, settings):
    """``flow`` running its mapped tasks on the task runner of ``settings``."""
    return flow.with_options(task_runner=task_runner(settings.task_runner, settings.dask_workers, settings.task_threads))


class TemporaryServer:
    """A ``prefect server start`` started by this process: its process, API URL and log file."""

    def __init__(self, proc: subprocess.Popen, url: str, log_path: Path):
        self.proc, self.url, self.log_path = proc, url, log_path


@contextmanager
def temporary_server(prefect_home: Path, *, services: bool = False):
    """Start a temporary server now, without waiting for it (None when an API is configured: a scheduled run
    starts none), and stop it when the body ends. A command starts it first and imports its flows while the
    server starts: the two overlap on a 2-core machine."""
    if configured_api_url():
        yield None
        return
    port = _free_port()
    prefect_home.mkdir(parents=True, exist_ok=True)
    log_path = prefect_home / "server.log"
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port), *([] if services else ["--no-services"])],
                                stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent)
    try:
        yield TemporaryServer(proc, f"http://127.0.0.1:{port}/api", log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def using(server: TemporaryServer | None, startup_timeout: float):
    """Run the body against ``server`` once it answers (waiting up to ``startup_timeout`` seconds), or against
    the configured API when ``server`` is None."""
    if server is None:
        yield configured_api_url()
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _wait_healthy(server.url, server.proc, server.log_path, startup_timeout)
    with temporary_settings(updates={PREFECT_API_URL: server.url}):
        try:
            yield server.url
        finally:
            _flush_logs()


@contextmanager
def prefect_api(prefect_home: Path, startup_timeout: float, *, services: bool = False,
                server: TemporaryServer | None = None):
    """Run the body against the configured Prefect API, the temporary ``server`` already started, or a
    temporary server started for it (with its scheduler ``services`` when the body serves a schedule)."""
    if server is not None:
        with using(server, startup_timeout) as url:
            yield url
        return
    with temporary_server(prefect_home, services=services) as started, using(started, startup_timeout) as url:
        yield url


def _flush_logs() -> None:
    """Send the run's buffered logs to the server before it stops (else Prefect reports it could not)."""
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=10)
    except Exception:  # noqa: BLE001 - losing a few log lines must not fail a finished run
        pass


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise PrefectUnavailable(f"the temporary Prefect server exited with status {proc.returncode}: {tail[0]} "
                                     f"(log: {log_path})")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise PrefectUnavailable(f"the temporary Prefect server did not answer within {timeout:g} s (log: {log_path}); "
                             "set VIGIE_PREFECT_STARTUP_TIMEOUT_SECONDS higher, or PREFECT_API_URL to a running server")
