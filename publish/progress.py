"""What a flow command shows while it runs, on a terminal: one rich progress line (the step running, the
steps done, the time) instead of Prefect's log lines, whose warnings and errors still print above it. Off a
terminal (a log file, the scheduler, CI) nothing changes: Prefect's log lines are the progress
(``flows/prefect_api.py``, ``step_progress``, decides which).

The steps are read from Prefect's own task run log records (their ``task_name`` and the "Finished in state
..." message each task run logs), so no flow or task has to report anything.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

FINISHED = "Finished in state"
LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


class StepProgress(logging.Handler):
    """A logging handler that turns Prefect's run records into one progress line on ``console``."""

    def __init__(self, console: Console, title: str):
        super().__init__(level=logging.INFO)
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                                 TextColumn("{task.completed} steps done"), TimeElapsedColumn(), console=console,
                                 transient=True)
        self.task = self.progress.add_task(title, total=None)
        self.done: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        step = record.__dict__.get("task_name")  # only task runs' records carry it (Prefect's extra)
        if not step:
            return
        message = record.getMessage()
        if message.startswith(FINISHED):
            self.done.append(step)
            self.progress.update(self.task, completed=len(self.done), description=f"{step}: done")
        else:
            self.progress.update(self.task, description=f"{step}: {message[:80]}")


class FileProgress:
    """``vigie ingest``'s progress on a terminal: a bar over the files and the step of the current one
    (reading, assigning to districts, storing, with its number of events). Call it as ``on_step(path, step,
    n_events)`` (see :func:`features.ingest.ingest_files`); use it as a context manager around the ingest."""

    STEPS = {"reading": "reading", "assigning": "assigning {n:,} events to districts",
             "storing": "storing {n:,} events", "done": "done ({n:,} events)"}

    def __init__(self, console: Console, n_files: int):
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
        self.task = self.progress.add_task("ingest", total=n_files)

    def __call__(self, path, step: str, n_events: int | None) -> None:
        text = self.STEPS[step].format(n=n_events or 0)
        self.progress.update(self.task, description=f"{path.name}: {text}", advance=1 if step == "done" else 0)

    def __enter__(self) -> "FileProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()


@contextmanager
def file_progress(console: Console, n_files: int):
    """A :class:`FileProgress` on a terminal, None elsewhere (the ingest's log lines are the progress)."""
    if not console.is_terminal:
        yield None
        return
    with FileProgress(console, n_files) as shown:
        yield shown
