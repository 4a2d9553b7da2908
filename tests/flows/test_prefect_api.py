import io
import logging

from rich.console import Console

from flows.prefect_api import _console_handlers, step_progress, task_runner


def test_a_terminal_gets_one_progress_line_and_prefect_lines_come_back_after():
    handlers = _console_handlers()
    assert handlers, "Prefect's console handler is configured (tests/conftest.py sets up its logging)"
    before = [h.level for h in handlers]
    terminal = Console(file=io.StringIO(), force_terminal=True)
    with step_progress(terminal, "vigie MLI: starting") as progress:
        assert all(h.level == logging.WARNING for h in handlers)  # run lines held back, warnings still shown
        logging.getLogger("prefect.task_runs").info("Finished in state Completed()", extra={"task_name": "ingest"})
        assert progress.done == ["ingest"]
    assert [h.level for h in handlers] == before
    assert progress not in logging.getLogger("prefect.task_runs").handlers
    with step_progress(Console(file=io.StringIO()), "not a terminal") as nothing:  # a log: Prefect's lines as they are
        assert nothing is None and [h.level for h in handlers] == before


def test_task_runners_of_the_setting():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(task_runner("threads"), ThreadPoolTaskRunner)
    assert task_runner("threads", threads=2)._max_workers == 2  # no public reader; the slots held at once
    local = task_runner("dask", dask_workers=3)
    assert isinstance(local, DaskTaskRunner) and local.cluster_kwargs["n_workers"] == 3
    assert task_runner("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
