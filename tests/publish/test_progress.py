import io
import logging
from pathlib import Path

from rich.console import Console

from publish.progress import FileProgress, StepProgress, file_progress


def _record(message: str, task_name: str | None = None) -> logging.LogRecord:
    record = logging.LogRecord("prefect.task_runs", logging.INFO, __file__, 1, message, None, None)
    if task_name:
        record.task_name = task_name
    return record


def test_task_run_records_become_one_progress_line():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    handler = StepProgress(console, "vigie MLI: starting")
    handler.progress.start()
    handler.emit(_record("ingested x.csv: 10 added", "ingest"))
    handler.emit(_record("Finished in state Completed()", "ingest"))
    handler.emit(_record("a flow line without a task"))  # ignored
    handler.emit(_record("feature table: 100 rows", "build-features"))
    (task,) = handler.progress.tasks
    assert handler.done == ["ingest"] and task.completed == 1
    assert task.description == "build-features: feature table: 100 rows"
    handler.progress.refresh()
    handler.progress.stop()
    assert "build-features: feature table: 100 rows" in out.getvalue() and "1 steps done" in out.getvalue()


def test_off_a_terminal_there_is_no_progress_and_on_one_the_bar_follows_the_files():
    with file_progress(Console(file=io.StringIO(), force_terminal=False), 2) as shown:
        assert shown is None
    out = io.StringIO()
    with file_progress(Console(file=out, force_terminal=True, width=100), 2) as shown:
        assert isinstance(shown, FileProgress)
        shown(Path("/data/a.csv"), "reading", None)
        shown(Path("/data/a.csv"), "assigning", 1200)
        assert shown.progress.tasks[0].description == "a.csv: assigning 1,200 events to districts"
        shown(Path("/data/a.csv"), "done", 1200)
        shown(Path("/data/b.csv"), "storing", 7)
        assert shown.progress.tasks[0].completed == 1 and shown.progress.tasks[0].total == 2
        assert shown.progress.tasks[0].description == "b.csv: storing 7 events"
