"""The real Renovate CLI for the tests: installed from the npm registry once, cached, and driven.

The pinned release is the newest Renovate 39.x at the time of writing whose `engines` accept
Node 20 (`^20.15.1 || ^22.11.0`); its copier manager is the same as in 44.x. It is installed with
npm into ``<cache>/kit-tests/renovate-<version>`` (``KIT_TEST_CACHE`` overrides ``<cache>/kit-tests``)
and reused by later runs. Where Node, npm or the registry is missing the test is skipped with the
reason, except under ``CI``, where it fails instead: CI must prove the promise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

RENOVATE_VERSION = "39.264.1"
NODE_ENGINES = ((20, 15, 1), (22, 11, 0))
"""Renovate 39.264.1's `engines.node`: ``^20.15.1 || ^22.11.0``."""
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 240
BRANCH_STEP = Path(__file__).with_name("branch-step.js")
# Computed at import, before the tests' isolated HOME: the cache outlives a test session.
CACHE_ROOT = Path(
    os.environ.get("KIT_TEST_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kit-tests"
)


def unavailable(reason: str) -> NoReturn:
    """Skip with *reason*; under ``CI`` fail instead, since CI must run the real client."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the real-Renovate test must run, not be skipped)")
    pytest.skip(reason)


def _node_version() -> tuple[int, int, int] | None:
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)", done.stdout.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _node_accepted(version: tuple[int, int, int]) -> bool:
    return any(version[0] == floor[0] and version >= floor for floor in NODE_ENGINES)


@dataclass(frozen=True)
class Renovate:
    """An installed Renovate CLI."""

    prefix: Path

    @property
    def entry(self) -> Path:
        return self.prefix / "node_modules" / "renovate" / "dist" / "renovate.js"

    def env(self, home: Path, work: Path) -> dict[str, str]:
        """The environment Renovate runs in: the kit's venv first on PATH (Renovate runs `copier`
        from PATH), JSON logs at debug level, caches in *work*."""
        bindir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "HOME": str(home),
            "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "json",
            "RENOVATE_BASE_DIR": str(work / "base"),
            "RENOVATE_CACHE_DIR": str(work / "cache"),
        }

    def run_local(self, project: Path, *, home: Path, work: Path) -> tuple[int, list[dict[str, Any]]]:
        """``renovate --platform=local`` in *project*, only the copier manager; the JSON log records."""
        env = {**self.env(home, work), "RENOVATE_PLATFORM": "local", "RENOVATE_ENABLED_MANAGERS": "copier"}
        done = subprocess.run(["node", str(self.entry)], cwd=project, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False)
        (work / "renovate-local.log.json").write_text(done.stdout, encoding="utf-8")
        records = []
        for line in done.stdout.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return done.returncode, records

    def branch_step(self, request: dict[str, Any], *, home: Path, work: Path) -> list[dict[str, Any]]:
        """Run ``branch-step.js`` (Renovate's getUpdatedPackageFiles and commit) for *request*."""
        request_file, result_file = work / "branch-step.in.json", work / "branch-step.out.json"
        request_file.write_text(json.dumps(request), encoding="utf-8")
        done = subprocess.run(
            ["node", str(BRANCH_STEP), str(self.prefix), str(request_file), str(result_file)],
            env=self.env(home, work), capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
        )
        (work / "branch-step.log.json").write_text(done.stdout + done.stderr, encoding="utf-8")
        assert done.returncode == 0, f"branch-step.js failed:\n{done.stderr[-3000:]}"
        results: list[dict[str, Any]] = json.loads(result_file.read_text(encoding="utf-8"))
        return results


def install() -> Renovate:
    """The cached Renovate install, installing it first if needed; skips (or, under CI, fails)
    when Node, npm or the registry is missing."""
    version = _node_version()
    if version is None:
        unavailable("node is not installed: the real-Renovate test needs Node and npm")
    if not _node_accepted(version):
        unavailable(f"node {'.'.join(map(str, version))} does not satisfy Renovate {RENOVATE_VERSION}'s "
                    "engines (^20.15.1 || ^22.11.0)")
    prefix = CACHE_ROOT / f"renovate-{RENOVATE_VERSION}"
    renovate = Renovate(prefix)
    if _installed_version(prefix) == RENOVATE_VERSION:
        return renovate
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed: the real-Renovate test installs Renovate with it")
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".renovate-{RENOVATE_VERSION}-", dir=CACHE_ROOT))
    try:
        done = subprocess.run(
            # Optional native modules (re2, better-sqlite3) and install scripts cost minutes and
            # nothing the copier manager needs: Renovate falls back to JavaScript's RegExp.
            [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--loglevel=error",
             "--omit=optional", "--ignore-scripts", f"renovate@{RENOVATE_VERSION}"],
            env={**os.environ, "npm_config_cache": str(CACHE_ROOT / "npm-cache")},
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            unavailable(f"npm install renovate@{RENOVATE_VERSION} failed (registry unreachable?): {last}")
        if _installed_version(prefix) != RENOVATE_VERSION:
            shutil.rmtree(prefix, ignore_errors=True)
            staging.rename(prefix)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return renovate


def _installed_version(prefix: Path) -> str | None:
    try:
        manifest = json.loads((prefix / "node_modules" / "renovate" / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(manifest.get("version"))
