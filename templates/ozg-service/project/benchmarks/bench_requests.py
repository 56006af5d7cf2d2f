"""Requests per second of the service against a bare FastAPI app returning the same bytes.

    python benchmarks/bench_requests.py [--requests 400] [--rounds 5] [--concurrency 4]

Starts two uvicorn servers on 127.0.0.1 (one worker each, no access log): the service itself and
a bare FastAPI app that answers with the very same HTML (GET /) and the very same redirect
(POST to the first form page, after reading the form body). Rounds alternate between the two;
the script prints the median requests per second of each and their ratio. The ratio shows what
the machinery (security headers, CSRF, validation, session storage, templates) costs.
Exits 1 when a ratio is below --min-ratio (default 0.5).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from app.forms import load_form  # noqa: E402

BARE_APP = textwrap.dedent('''
    from pathlib import Path
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, RedirectResponse

    HERE = Path(__file__).parent
    START = (HERE / "start.html").read_bytes()
    FORM_PATH, LOCATION = (HERE / "post.txt").read_text().split()
    app = FastAPI()

    @app.get("/")
    async def start() -> HTMLResponse:
        return HTMLResponse(START)

    @app.post(FORM_PATH)
    async def form(request: Request) -> RedirectResponse:
        await request.form()
        return RedirectResponse(LOCATION, status_code=303)
''')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(target: str, cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning"]
    if target.endswith("create_app"):
        args.insert(3, "--factory")
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server {target} did not start") from None
            time.sleep(0.1)


def measure(requests: int, concurrency: int, make_call: Callable[[], Callable[[], None]]) -> float:
    """Requests per second for *requests* calls spread over *concurrency* threads."""
    per_worker = requests // concurrency
    calls = [make_call() for _ in range(concurrency)]

    def work(call: Callable[[], None]) -> None:
        for _ in range(per_worker):
            call()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(work, calls))
    return per_worker * concurrency / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--min-ratio", type=float, default=0.5)
    args = parser.parse_args(argv)

    form = load_form(PROJECT_ROOT / "form.toml")
    first = form.pages[0]
    from tests.samples import sample_value  # the same valid answers the tests use

    answers = {field.name: sample_value(field) for field in first.fields}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "SERVICE_ENV": "development", "SERVICE_DATA_DIR": str(work / "var"),
               "SERVICE_DELIVERY_INTERVAL": "0", "SERVICE_LOG_LEVEL": "WARNING",
               "SERVICE_SECRET_KEY": "benchmark-secret-key-0123456789-abcdefghij"}
        service, service_url = start_server("app.main:create_app", PROJECT_ROOT, env)
        try:
            start_html = httpx.get(service_url + "/").content
            probe = httpx.Client(base_url=service_url)
            token = re.search(rb'name="csrf_token" value="([^"]+)"',
                              probe.get(f"/antrag/{first.id}").content).group(1).decode()
            location = probe.post(f"/antrag/{first.id}",
                                  data={**answers, "csrf_token": token}).headers["location"]
            (work / "start.html").write_bytes(start_html)
            (work / "post.txt").write_text(f"/antrag/{first.id} {location}")
            (work / "bare_app.py").write_text(BARE_APP)
            bare, bare_url = start_server("bare_app:app", work, env)
        except BaseException:
            service.terminate()
            raise
        try:
            bare_html = httpx.get(bare_url + "/").content
            if bare_html != start_html:
                raise SystemExit("the bare app must return the same bytes as the service")

            def get_start(url: str) -> Callable[[], Callable[[], None]]:
                def make() -> Callable[[], None]:
                    client = httpx.Client(base_url=url)
                    return lambda: client.get("/").raise_for_status()
                return make

            def post_form(url: str) -> Callable[[], Callable[[], None]]:
                def make() -> Callable[[], None]:
                    # Each thread is one citizen: own session cookie and CSRF token.
                    client = httpx.Client(base_url=url)
                    page = client.get(f"/antrag/{first.id}").content
                    match = re.search(rb'name="csrf_token" value="([^"]+)"', page)
                    data = {**answers, "csrf_token": match.group(1).decode() if match else "x"}

                    def call() -> None:
                        response = client.post(f"/antrag/{first.id}", data=data)
                        if response.status_code != 303:
                            raise RuntimeError(f"POST answered {response.status_code}")
                    return call
                return make

            results: dict[str, dict[str, list[float]]] = {}
            for name, scenario in (("start page (GET /)", get_start),
                                   (f"form POST /antrag/{first.id}", post_form)):
                runs = results.setdefault(name, {"service": [], "bare": []})
                # warm-up
                measure(args.concurrency * 10, args.concurrency, scenario(service_url))
                measure(args.concurrency * 10, args.concurrency, scenario(bare_url))
                for _ in range(args.rounds):
                    runs["service"].append(measure(args.requests, args.concurrency,
                                                   scenario(service_url)))
                    runs["bare"].append(measure(args.requests, args.concurrency,
                                                scenario(bare_url)))
        finally:
            service.terminate()
            bare.terminate()
            service.wait(10)
            bare.wait(10)

    print(f"{args.rounds} rounds of {args.requests} requests, {args.concurrency} threads, "
          "one uvicorn worker each")
    print(f"{'scenario':32} {'service req/s':>14} {'bare req/s':>12} {'ratio':>7}")
    failed = False
    for name, runs in results.items():
        service_median = statistics.median(runs["service"])
        bare_median = statistics.median(runs["bare"])
        ratio = service_median / bare_median
        failed |= ratio < args.min_ratio
        print(f"{name:32} {service_median:14.0f} {bare_median:12.0f} {ratio:7.2f}")
    print(f"target ratio >= {args.min_ratio}: {'missed' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
