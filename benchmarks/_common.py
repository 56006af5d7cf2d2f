"""Helpers shared by the benchmarks: temporary template repositories and timing."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The console script *name* of the running environment."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@contextmanager
def isolated_env() -> Iterator[Path]:
    """A scratch directory with its own git identity and kit home, set in ``os.environ``."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as scratch:
        root = Path(scratch)
        gitconfig = root / "gitconfig"
        gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@example.org\n[init]\n\tdefaultBranch = main\n")
        os.environ.update(
            {
                "GIT_CONFIG_GLOBAL": str(gitconfig),
                "GIT_CONFIG_NOSYSTEM": "1",
                "KIT_HOME": str(root / "kit-home"),
                "NO_COLOR": "1",
            }
        )
        os.environ.pop("KIT_SOURCE", None)
        try:
            yield root
        finally:
            os.environ.clear()
            os.environ.update(saved)


def template_repo(root: Path, tag: str = "v1.0.0") -> Path:
    """A git copy of this repository's template set, tagged *tag*."""
    repo = root / "template-repo"
    repo.mkdir()
    shutil.copy2(REPO_ROOT / "copier.yml", repo / "copier.yml")
    shutil.copytree(REPO_ROOT / "templates", repo / "templates")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "templates")
    git(repo, "tag", tag)
    return repo


def run(cmd: list[str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def time_rounds(fn: Callable[[int], None], rounds: int) -> list[float]:
    times = []
    for index in range(rounds):
        start = time.perf_counter()
        fn(index)
        times.append(time.perf_counter() - start)
    return times


def interleaved(pairs: dict[str, Callable[[int], None]], rounds: int) -> dict[str, list[float]]:
    """Time each callable *rounds* times, alternating between them so drift hits both alike."""
    results: dict[str, list[float]] = {name: [] for name in pairs}
    for index in range(rounds):
        for name, fn in pairs.items():
            start = time.perf_counter()
            fn(index)
            results[name].append(time.perf_counter() - start)
    return results


def report(title: str, measured: str, baseline: str, times: dict[str, list[float]], target: float) -> bool:
    """Print medians and the ratio; return whether the target is met."""
    m, b = statistics.median(times[measured]), statistics.median(times[baseline])
    ratio = m / b
    ok = ratio <= target
    print(f"{title}")
    print(f"  {measured:<28} median {m * 1000:8.1f} ms  (n={len(times[measured])})")
    print(f"  {baseline:<28} median {b * 1000:8.1f} ms  (n={len(times[baseline])})")
    print(f"  ratio {ratio:.2f}x   target <= {target}x   {'OK' if ok else 'MISSED'}")
    return ok
