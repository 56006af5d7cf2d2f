"""Running one function over many fleet entries in parallel, reporting each result as it lands.

Rendering with Copier is CPU-bound and changes the process's working directory, so parallel
work runs in worker processes, not threads. Workers are spawned (not forked): they start with
the caller's environment as it is now and share nothing but the on-disk caches, which
:mod:`.drift` writes under a lock. One job, or one entry, runs in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Generic, TypeVar

from . import drift

T = TypeVar("T")
R = TypeVar("R")

_WORKER: dict[str, Any] = {}


def default_jobs() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class Runner(Generic[T, R]):
    """Apply ``work(item, settings, templates)`` to every item, *jobs* at a time."""

    def __init__(self, work: Callable[[T, Any, drift.Templates], R], settings: Any, *,
                 on_error: Callable[[T, BaseException], R]) -> None:
        self.work = work
        self.settings = settings
        self.on_error = on_error

    def run(self, items: Sequence[T], *, jobs: int, done: Callable[[int, R], None] | None = None) -> list[R]:
        results: list[R | None] = [None] * len(items)

        def finish(index: int, result: R) -> None:
            results[index] = result
            if done is not None:
                done(index, result)

        if jobs <= 1 or len(items) <= 1:
            templates = drift.Templates()
            for index, item in enumerate(items):
                finish(index, self._guarded(item, templates))
        else:
            self._parallel(items, jobs, finish)
        return [r for r in results if r is not None]

    def _guarded(self, item: T, templates: drift.Templates) -> R:
        try:
            return self.work(item, self.settings, templates)
        except Exception as error:
            return self.on_error(item, error)

    def _parallel(self, items: Sequence[T], jobs: int, finish: Callable[[int, R], None]) -> None:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(items)), mp_context=context,
            initializer=_init_worker, initargs=(self.work, self.settings, self.on_error),
        ) as pool:
            pending: dict[Future[R], int] = {pool.submit(_run_in_worker, item): i for i, item in enumerate(items)}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        index = pending.pop(future)
                        try:
                            result = future.result()
                        except Exception as error:
                            result = self.on_error(items[index], error)
                        finish(index, result)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def _init_worker(work: Callable[..., Any], settings: Any, on_error: Callable[..., Any]) -> None:
    _WORKER.update(work=work, settings=settings, on_error=on_error, templates=drift.Templates())


def _run_in_worker(item: Any) -> Any:
    try:
        return _WORKER["work"](item, _WORKER["settings"], _WORKER["templates"])
    except Exception as error:
        return _WORKER["on_error"](item, error)
