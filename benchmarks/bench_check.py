"""Benchmark `kit check` against `reuse lint` alone, on a generated ozg-service project.

Both run as subprocesses in the same run, interleaved, on the same project: `kit check
--format json` (every rule, REUSE included) and `reuse lint`. The first `kit check` renders the
template for the drift rules into the kit's cache; it is timed separately ("cold") and the
rounds measure the usual, cached case. Usage: ``python benchmarks/bench_check.py [--rounds N]``.
Target (issue 5): kit check <= 2x reuse lint.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import interleaved, isolated_env, report, run, template_repo, tool


def kit_check(kit: str, project: Path) -> None:
    # Exit 1 (findings) is a valid outcome for timing; anything else is a broken benchmark.
    result = subprocess.run([kit, "check", str(project), "--format", "json"], capture_output=True, check=False)
    if result.returncode not in (0, 1):
        raise SystemExit(f"kit check failed ({result.returncode}): {result.stderr.decode()}")
    json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    kit, reuse = tool("kit"), tool("reuse")
    with isolated_env() as root:
        repo = template_repo(root)
        project = root / "dienst"
        run([kit, "new", "ozg-service", str(project), "--municipality", "augsburg", "--defaults",
             "--source", str(repo)])
        files = len(subprocess.run(["git", "ls-files"], cwd=project, capture_output=True, text=True,
                                   check=True).stdout.splitlines())
        start = time.perf_counter()
        kit_check(kit, project)
        cold = time.perf_counter() - start
        times = interleaved(
            {
                "kit check": lambda _i: kit_check(kit, project),
                "reuse lint": lambda _i: run([reuse, "--root", str(project), "lint"]),
            },
            args.rounds,
        )
    print(f"ozg-service project: {files} files; first kit check (renders the template): {cold * 1000:.1f} ms")
    ok = report("kit check (all rules) vs reuse lint alone", "kit check", "reuse lint", times, 2.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
