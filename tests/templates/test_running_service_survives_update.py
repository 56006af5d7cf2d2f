"""The reproduction that broke the promise: a generated ozg-service runs, citizens submit
applications, the team updates the templates and aborts. The database, the delivered
applications in the outbox, ``.venv`` and ``.env`` must come out byte for byte as they went in,
after an abort of a committed update and after a Ctrl-C or a SIGKILL of the update itself.

The service is the generated project itself, installed into its own ``.venv`` from the package
registry and started with ``python -m app``; applications go through its HTTP journey.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitcli.cli import main

from tests.conftest import TemplateRepo, git

SUBMIT = r"""
import re, sys
import httpx
from pathlib import Path
from app.forms import load_form
from tests.samples import valid_answers

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
form = load_form(Path("form.toml"))
with httpx.Client(base_url=sys.argv[1], follow_redirects=True) as client:
    token = CSRF.search(client.get(f"/antrag/{form.pages[0].id}").text).group(1)
    answers = valid_answers(form)
    for page in form.pages:
        response = client.post(f"/antrag/{page.id}", data={**answers[page.id], "csrf_token": token})
        response.raise_for_status()
    done = client.post("/antrag/pruefen", data={"csrf_token": token})
    done.raise_for_status()
    print(re.search(r"data-reference>([^<]+)<", done.text).group(1))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _state(project: Path) -> dict[str, str]:
    """Every file of the project's local state (var/, .venv, .env) with its digest."""
    state = {}
    for root in (project / "var", project / ".venv", project / ".env"):
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in paths:
            if "__pycache__" in path.parts:
                continue  # the service's own interpreter may write bytecode while it runs
            state[path.relative_to(project).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _references(project: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(project / "var" / "service.sqlite3")) as connection:
        return sorted(row[0] for row in connection.execute("SELECT reference FROM outbox WHERE status = 'delivered'"))


@contextlib.contextmanager
def _running(project: Path) -> Iterator[str]:
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SERVICE_", "VIRTUAL_ENV", "PYTHON"))},
           "SERVICE_ENV": "development", "SERVICE_SECRET_KEY": "x" * 48, "SERVICE_PORT": str(port),
           "SERVICE_DELIVERY_INTERVAL": "1", "SERVICE_DELIVERY_RETRY_SECONDS": "1"}
    with subprocess.Popen([str(project / ".venv" / "bin" / "python"), "-m", "app"], cwd=project, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as service:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/", timeout=2):
                    break
            except OSError:
                if service.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the service did not start: {service.communicate()[1][-2000:]}") from None
                time.sleep(0.2)
        try:
            yield url
        finally:
            service.terminate()
            service.communicate(timeout=30)


def _interrupted_update(project: Path, signum: signal.Signals) -> None:
    marker = project / ".git" / "kit-update.json"
    with subprocess.Popen([sys.executable, "-m", "kitcli", "update", str(project)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as process:
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.3)  # inside Copier's work on the real templates
        process.send_signal(signum)
        process.wait()


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pip-cache")


@pytest.mark.slow
def test_running_service_keeps_its_submissions_through_update_abort_and_kills(
        template_repo: TemplateRepo, tmp_path: Path, pip_cache: Path) -> None:
    project = tmp_path / "hundesteuer"
    assert main(["new", "ozg-service", str(project), "--defaults", "--municipality", "augsburg",
                 "--source", str(template_repo.path)]) == 0
    with (template_repo.path / "templates/ozg-service/project/app/static/app.css").open("a") as css:
        css.write("\n/* v1.1.0 */\n")
    with (template_repo.path / "templates/base/project/CONTRIBUTING.md").open("a") as contributing:
        contributing.write("\nNeu in v1.1.0.\n")
    template_repo.release("v1.1.0")

    venv.EnvBuilder(with_pip=True, clear=True).create(project / ".venv")
    python = str(project / ".venv" / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-e", ".", "httpx"], cwd=project,
                             capture_output=True, text=True, check=False,
                             env={**os.environ, "PIP_CACHE_DIR": str(pip_cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if install.returncode != 0 and "Could not find a version" in install.stderr + install.stdout:
        pytest.skip(f"the package registry is not reachable: {install.stderr.strip().splitlines()[-1]}")
    assert install.returncode == 0, install.stderr[-3000:]
    (project / ".env").write_text("SERVICE_SECRET_KEY=nur-lokal-0123456789abcdef0123456789abcdef\n", encoding="utf-8")
    assert git(project, "status", "--porcelain") == ""  # var/ content, .venv and .env are ignored

    head = git(project, "rev-parse", "HEAD")
    submitted: list[str] = []
    with _running(project) as url:
        for _ in range(3):
            journey = subprocess.run([python, "-c", SUBMIT, url], cwd=project, capture_output=True, text=True,
                                     check=False)
            assert journey.returncode == 0, journey.stderr[-3000:]
            submitted.append(journey.stdout.strip())
        deadline = time.monotonic() + 30
        while _references(project) != sorted(submitted) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _references(project) == sorted(submitted)
        assert len(list((project / "var" / "outbox").rglob("*.json"))) >= 3
        before = _state(project)

        # 1. update --commit, then --abort, while the service runs
        assert main(["update", str(project), "--commit"]) == 0
        assert "v1.1.0" in (project / "app" / "static" / "app.css").read_text(encoding="utf-8")
        assert main(["update", str(project), "--abort"]) == 0
        assert git(project, "rev-parse", "HEAD") == head
        assert _state(project) == before, "abort after --commit changed var/, .venv or .env"

        # 2. and 3. the update interrupted by Ctrl-C and by SIGKILL, then --abort where needed
        for signum in (signal.SIGINT, signal.SIGKILL):
            _interrupted_update(project, signum)
            if (project / ".git" / "kit-update.json").exists():
                assert main(["update", str(project), "--abort"]) == 0
            assert git(project, "rev-parse", "HEAD") == head
            assert git(project, "status", "--porcelain") == "", f"not restored after {signum.name}"
            assert _state(project) == before, f"{signum.name} changed var/, .venv or .env"
        assert _references(project) == sorted(submitted)
    assert _references(project) == sorted(submitted)
