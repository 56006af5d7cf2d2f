"""Memory while citizens upload large files at the same time.

    python benchmarks/bench_uploads.py [--uploads 5] [--size-mb 10] [--rounds 3]

Each round starts a fresh uvicorn server of this service (one worker, the project's form.toml,
which must have a file field) and measures its resident memory (VmRSS) once it has served
ordinary pages: the baseline. Then --uploads citizens, each in their own session, send one PDF
of --size-mb MB each at the same moment, and the server's peak resident memory (VmHWM, the
kernel's high-water mark) is read. It prints, as medians over the rounds, the baseline, the
peak, the peak's growth over the baseline, that growth per uploaded megabyte, and the upload
latency. Linux only (it reads /proc). Exits 1 if an upload is not accepted, or if the growth is
more than --max-factor times the data uploaded (default 3).
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
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from app.forms import load_form  # noqa: E402
from benchmarks.bench_requests import start_server  # noqa: E402
from tests.samples import sample_pdf  # noqa: E402

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise SystemExit(f"/proc/{pid}/status has no {key}")


def one_round(url: str, pid: int, page: str, field: str, uploads: int,
              content: bytes) -> tuple[float, float, list[float]]:
    """(baseline MiB, peak MiB, upload seconds) of one server."""
    clients = []
    for _ in range(uploads):
        client = httpx.Client(base_url=url, timeout=120)
        match = TOKEN.search(client.get(f"/antrag/{page}").text)
        if match is None:
            raise SystemExit(f"no CSRF token on /antrag/{page}")
        client.headers["x-token"] = match.group(1)
        clients.append(client)
    for _ in range(20):  # warm: templates compiled, pools filled
        httpx.get(url + "/")
    baseline = memory_kib(pid, "VmRSS") / 1024
    start = threading.Barrier(uploads)
    took: list[float] = []
    failures: list[str] = []

    def send(client: httpx.Client) -> None:
        start.wait()
        began = time.perf_counter()
        response = client.post(f"/antrag/{page}", data={"csrf_token": client.headers["x-token"]},
                               files=[(field, ("nachweis.pdf", content, "application/pdf"))])
        took.append(time.perf_counter() - began)
        if response.status_code != 303:
            failures.append(str(response.status_code))

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    if failures:
        raise SystemExit(f"uploads not accepted: HTTP {', '.join(failures)}")
    return baseline, memory_kib(pid, "VmHWM") / 1024, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=5, help="files sent at the same moment")
    parser.add_argument("--size-mb", type=float, default=10, help="size of each file (MB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-factor", type=float, default=3.0)
    args = parser.parse_args(argv)
    form = load_form(PROJECT_ROOT / "form.toml")
    found = [(p.id, f) for p in form.pages for f in p.fields if f.type == "file"]
    if not found:
        raise SystemExit("form.toml has no file field")
    page, field = found[0]
    size = int(args.size_mb * 1_000_000)
    if size > field.max_size:
        raise SystemExit(f"--size-mb is over the field's limit of {field.max_size} bytes")
    pdf = sample_pdf("Benchmark")
    content = pdf + b"\0" * (size - len(pdf) - 6) + b"%%EOF\n"
    rounds = []
    with tempfile.TemporaryDirectory() as work:
        for number in range(args.rounds):
            env = {**os.environ, "SERVICE_ENV": "development", "SERVICE_LOG_LEVEL": "WARNING",
                   "SERVICE_DELIVERY_INTERVAL": "0", "SERVICE_DATA_DIR": f"{work}/{number}",
                   "SERVICE_SECRET_KEY": "benchmark-secret-key-0123456789-abcdefghij"}
            process, url = start_server("app.main:create_app", PROJECT_ROOT, env)
            try:
                rounds.append(one_round(url, process.pid, page, field.name, args.uploads,
                                        content))
            finally:
                process.terminate()
                process.wait(timeout=30)
    baseline = statistics.median(r[0] for r in rounds)
    peak = statistics.median(r[1] for r in rounds)
    growth = statistics.median(r[1] - r[0] for r in rounds)
    uploaded_mb = args.uploads * size / 1_000_000
    latency = statistics.median(t for r in rounds for t in r[2])
    print(f"{args.uploads} uploads of {args.size_mb:g} MB at once, {args.rounds} rounds (medians)")
    print(f"  baseline (served pages, idle): {baseline:7.1f} MiB resident")
    print(f"  peak while uploading:          {peak:7.1f} MiB  ({peak / baseline:.2f}x baseline)")
    print(f"  growth over baseline:          {growth:7.1f} MiB  "
          f"({growth / uploaded_mb:.2f} MiB per MB uploaded)")
    print(f"  upload latency:                {latency:7.2f} s")
    return 0 if growth <= args.max_factor * uploaded_mb else 1


if __name__ == "__main__":
    raise SystemExit(main())
