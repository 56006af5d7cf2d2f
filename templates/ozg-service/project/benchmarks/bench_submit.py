"""Submitting while the receiving side hangs: the citizen never waits for the delivery.

    python benchmarks/bench_submit.py [--submissions 50] [--rounds 3] [--hang 25]

Starts the fake Zustelldienst of the test suite on loopback, told to leave every API request
unanswered for --hang seconds, and two uvicorn servers of this service (one worker each, the
background worker on): one delivering through FIT-Connect to that hanging destination, and the
baseline delivering with the directory adapter (which answers at once). Each round fills in
--submissions applications, one session each, then sends all check-answers pages at the same
moment while another thread polls /healthz. It prints the median over the rounds of the p95
submit and /healthz latencies, and their ratio to the baseline measured in the same run.
Exits 1 when submit p95 is over --max-submit (0.5 s) or /healthz p95 over --max-health (0.1 s).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from app.forms import load_form  # noqa: E402
from benchmarks.bench_requests import start_server  # noqa: E402
from tests import fake_zustelldienst  # noqa: E402
from tests.samples import valid_answers  # noqa: E402

LEIKA_KEY = "99123456789012"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * 0.95 + 0.5) - 1, 0)]


def fill_in(url: str, pages: dict[str, dict[str, str]], first: str) -> httpx.Client:
    """One citizen with a complete draft, ready to send the check-answers page."""
    client = httpx.Client(base_url=url, timeout=60)
    match = TOKEN.search(client.get(f"/antrag/{first}").text)
    if match is None:
        raise SystemExit("no CSRF token on the first form page")
    client.headers["x-token"] = match.group(1)
    for page, answers in pages.items():
        response = client.post(f"/antrag/{page}", data={**answers, "csrf_token": match.group(1)})
        if response.status_code != 303:
            raise SystemExit(f"filling in /antrag/{page} answered {response.status_code}")
    return client


def one_round(url: str, submissions: int) -> tuple[list[float], list[float]]:
    """Submit latencies and /healthz latencies while the submissions go in."""
    form = load_form(PROJECT_ROOT / "form.toml")
    pages = valid_answers(form)
    clients = [fill_in(url, pages, form.pages[0].id) for _ in range(submissions)]
    start = threading.Barrier(submissions + 1)
    health: list[float] = []
    done = threading.Event()

    def submit(client: httpx.Client) -> float:
        start.wait()
        began = time.perf_counter()
        response = client.post("/antrag/pruefen",
                               data={"csrf_token": client.headers["x-token"]})
        elapsed = time.perf_counter() - began
        if response.status_code != 303:
            raise SystemExit(f"submit answered {response.status_code}")
        return elapsed

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            start.wait()
            while not done.is_set() or len(health) < 20:
                began = time.perf_counter()
                client.get("/healthz").raise_for_status()
                health.append(time.perf_counter() - began)
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    with ThreadPoolExecutor(submissions) as pool:
        latencies = list(pool.map(submit, clients))
    done.set()
    poller.join()
    for client in clients:
        client.close()
    return latencies, health


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=50, help="concurrent submits")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hang", type=float, default=25.0, help="seconds the destination hangs")
    parser.add_argument("--max-submit", type=float, default=0.5)
    parser.add_argument("--max-health", type=float, default=0.1)
    args = parser.parse_args(argv)

    fake_zustelldienst.TOO_LATE = args.hang
    fake = fake_zustelldienst.FakeZustelldienst().start()
    fake.fail("timeout", times=100_000)  # every API request hangs, the token endpoint answers
    results: dict[str, tuple[list[float], list[float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            kommune = work / "kommune.toml"
            destination = fake_zustelldienst.DESTINATION_ID
            kommune.write_text(
                (PROJECT_ROOT / "tests" / "data" / "kommune_complete.toml").read_text("utf-8")
                + f'\n[delivery]\nfit_connect_destination = "{destination}"\n',
                encoding="utf-8")
            service = work / "service.toml"
            service.write_text(re.sub(r'(?m)^leika_key = ".*"$', f'leika_key = "{LEIKA_KEY}"',
                                      (PROJECT_ROOT / "service.toml").read_text("utf-8")),
                               encoding="utf-8")
            common = {**os.environ, "SERVICE_ENV": "development", "SERVICE_LOG_LEVEL": "WARNING",
                      "SERVICE_DELIVERY_INTERVAL": "60", "SERVICE_KOMMUNE_FILE": str(kommune),
                      "SERVICE_SERVICE_FILE": str(service),
                      "SERVICE_SECRET_KEY": "benchmark-secret-key-0123456789-abcdefghij"}
            variants = {
                f"FIT-Connect, destination hangs {args.hang:g} s": {
                    "SERVICE_DATA_DIR": str(work / "fit"),
                    "SERVICE_DELIVERY_ADAPTER": "fit-connect",
                    "SERVICE_FIT_CONNECT_TOKEN_URL": f"{fake.url}/token",
                    "SERVICE_FIT_CONNECT_SUBMISSION_URL": fake.url,
                    "SERVICE_FIT_CONNECT_CLIENT_ID": fake_zustelldienst.CLIENT_ID,
                    "SERVICE_FIT_CONNECT_CLIENT_SECRET": fake_zustelldienst.CLIENT_SECRET,
                    "SERVICE_FIT_CONNECT_TIMEOUT": str(int(args.hang) + 5),
                },
                "baseline: directory adapter": {"SERVICE_DATA_DIR": str(work / "dir")},
            }
            servers = {name: start_server("app.main:create_app", PROJECT_ROOT,
                                          {**common, **extra})
                       for name, extra in variants.items()}
            try:
                for name, (_, url) in servers.items():
                    one_round(url, 5)  # warm-up
                    submits: list[float] = []
                    healths: list[float] = []
                    for _ in range(args.rounds):
                        latencies, health = one_round(url, args.submissions)
                        submits.append(p95(latencies))
                        healths.append(p95(health))
                    results[name] = (submits, healths)
                received = fake.submit_count
            finally:
                for process, _ in servers.values():
                    process.terminate()
                    process.wait(10)
    finally:
        fake.stop()

    print(f"{args.rounds} rounds of {args.submissions} concurrent submits, "
          "one uvicorn worker each; median of the per-round p95")
    print(f"{'variant':40} {'submit p95 s':>13} {'/healthz p95 s':>15}")
    medians = {name: (statistics.median(s), statistics.median(h))
               for name, (s, h) in results.items()}
    for name, (submit, health) in medians.items():
        print(f"{name:40} {submit:13.3f} {health:15.3f}")
    (hang_submit, hang_health), (base_submit, base_health) = medians.values()
    print(f"{'ratio hanging / baseline':40} {hang_submit / base_submit:13.2f} "
          f"{hang_health / base_health:15.2f}")
    print(f"submissions the hanging destination received meanwhile: {received}")
    met = hang_submit <= args.max_submit and hang_health <= args.max_health
    print(f"targets submit p95 <= {args.max_submit} s and /healthz p95 <= {args.max_health} s: "
          f"{'met' if met else 'missed'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
