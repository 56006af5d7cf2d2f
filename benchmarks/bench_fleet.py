"""Benchmark `kit fleet status` on one project per Bavarian municipality against the naive way.

Usage: ``python benchmarks/bench_fleet.py [--count N] [--sample K] [--modified F] [--jobs J]``

1. Generates N online-service projects (default 2,056: one per municipality, names and AGS from
   ../shared/data/bavaria-municipalities.csv, synthetic when that file is absent), each a git
   repository with its own answers files. Generating 2,056 projects with `kit new` would take
   hours on a small machine, so the projects are written from the template's shared render with
   each municipality's answers filled in (the technique `kit fleet status` relies on). That they
   are exactly what Copier renders for their answers is not assumed: the naive side below renders
   every sampled project with Copier and the benchmark reports whether the verdicts agree.
2. Modifies a fraction F of them (default 5%): a managed file changed, a seeded file changed, a
   managed file deleted, a file added in a managed path, in turn; each change is committed.
3. Times `kit fleet status DIR --format json --no-check` in a child process with an empty cache
   (cold) and again (warm), and samples the resident memory of the child and its workers.
   `--no-check` leaves out `kit check`, which the naive way does not do either; `--with-check`
   times the full report as well.
4. Times the naive way on a sample of K projects (default 50, modified ones included in
   proportion): for each, `copier copy` of each recorded layer at its recorded version with its
   recorded answers into an empty directory, then `diff -r` against the project (answers files
   and .git left out, as the kit does). The mean is extrapolated to N; this is said in the output.

Target (issue 6): the fleet at least 30x faster than the naive way, peak memory bounded.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml
from _common import REPO_ROOT, isolated_env, run, template_repo, tool

SHARED = REPO_ROOT.parent / "shared" / "data"
MUNICIPALITIES = SHARED / "bavaria-municipalities.csv"
KREISE = SHARED / "bavaria-kreise.csv"
SERVICE = {"project_name": "Hundesteuer", "leika_key": "99123456789012", "ozg_id": "10215"}
DERIVED_FROM_OFFICIAL_NAME = ("project_description", "project_long_description", "maintainer_name")
TARGET = 30.0
ANSWERS_HEADER = "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"


# --- municipalities ---------------------------------------------------------------------------


def municipalities(count: int, scratch: Path) -> tuple[list[Any], str]:
    """Registry entries for *count* municipalities, via the kit's own registry import."""
    from kitcli import _municipality

    if MUNICIPALITIES.is_file():
        _municipality.import_registry(MUNICIPALITIES, kreise_path=KREISE if KREISE.is_file() else None)
        origin = f"{MUNICIPALITIES} ({'with' if KREISE.is_file() else 'without'} Kreise)"
    else:
        synthetic = scratch / "synthetic-municipalities.csv"
        with synthetic.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["ags", "name"])
            for index in range(count):
                bezirk, kreis, gemeinde = 1 + index % 7, 71 + index % 19, index // 133 + 1
                writer.writerow([f"09{bezirk}{kreis:02d}{gemeinde:03d}", f"Gemeinde {index:04d}"])
        _municipality.import_registry(synthetic)
        origin = f"synthetic ({MUNICIPALITIES} is absent)"
    entries = _municipality.load_registry()
    if count > len(entries):
        raise SystemExit(f"--count {count}: only {len(entries)} municipalities in {origin}")
    return entries[:count], origin


def answers_for(entry: Any, reference: dict[str, dict[str, Any]], ref_official: str) -> dict[str, dict[str, Any]]:
    """Each layer's answers for *entry*: the reference's, with the municipality's profile and the
    answers the templates derive from it (as `kit new` would record them)."""
    from kitcli import _municipality

    profile = _municipality.entry_profile(entry)
    municipal = profile.to_answers()
    official = municipal["municipality_official_name"]
    layers = {}
    for layer, recorded in reference.items():
        values = dict(recorded)
        values.update({k: v for k, v in municipal.items() if k in recorded})
        for key in DERIVED_FROM_OFFICIAL_NAME:
            if key in values:
                values[key] = str(values[key]).replace(ref_official, official)
        if "codeowners" in values:
            values["codeowners"] = f"@{profile.id}/maintainers"
        if "repository_url" in values:
            values["repository_url"] = f"https://gitlab.opencode.de/{profile.id}/{values['project_slug']}"
        if "maintainer_email" in values:
            values["maintainer_email"] = municipal["municipality_email"]
        layers[layer] = values
    return layers


# --- generating projects ----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _generate(job: tuple[str, str, str, dict[str, dict[str, Any]]]) -> None:
    """Write one project: the shared render with its answers filled in, its answers files, git."""
    from kitcli import _git
    from kitcli._fleet import drift

    templates = _WORKER.setdefault("templates", drift.Templates())
    dest, src, commit, layers = job
    records = [drift.LayerRecord(name, src, commit, answers) for name, answers in layers.items()]
    group = drift.plan(records, templates)
    shared = drift.shared_render(group, templates)
    root = Path(dest)
    for path, rendered in shared.files.items():
        content, target = rendered.content, path
        if rendered.tokens:
            content = drift.TOKEN_BYTES_RE.sub(lambda m: group.values[int(m.group(1))].encode(), content)
            target = drift.TOKEN_RE.sub(lambda m: group.values[int(m.group(1))], path)
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        (root / target).write_bytes(content)
    for name, answers in layers.items():
        document = {"_commit": commit, "_src_path": src, **answers}
        text = ANSWERS_HEADER + yaml.safe_dump(document, allow_unicode=True, default_flow_style=False, sort_keys=True)
        (root / f".copier-answers.{name}.yml").write_text(text, encoding="utf-8")
    _git.init_and_commit(root, "Generate from kommunal-kit templates (base, ozg-service)")


MODIFICATIONS = ("managed file changed", "seeded file changed", "managed file deleted", "file added in managed path")


def modify(project: Path, kind: str) -> None:
    if kind == MODIFICATIONS[0]:
        path = project / "app" / "main.py"
        path.write_text(path.read_text(encoding="utf-8") + "\n# local change\n", encoding="utf-8")
    elif kind == MODIFICATIONS[1]:
        path = project / "kommune.toml"
        path.write_text(path.read_text(encoding="utf-8").replace('phone = ""', 'phone = "+49 89 1234"', 1),
                        encoding="utf-8")
    elif kind == MODIFICATIONS[2]:
        (project / "CONTRIBUTING.md").unlink()
    else:
        (project / "app" / "custom.py").write_text("print('eigene Erweiterung')\n", encoding="utf-8")
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-q", "-m", f"local work: {kind}"], cwd=project)


# --- measuring --------------------------------------------------------------------------------


class TreeMemory:
    """Peak resident memory of a process and its descendants, sampled from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak_kib = max(self.peak_kib, self._tree_rss())

    def _tree_rss(self) -> int:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            parents[int(entry.name)] = int(fields.get("PPid", "0").strip())
            rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0])
        tree, frontier = {self.pid}, [self.pid]
        while frontier:
            current = frontier.pop()
            children = [pid for pid, parent in parents.items() if parent == current and pid not in tree]
            tree.update(children)
            frontier.extend(children)
        return sum(rss.get(pid, 0) for pid in tree)


def fleet_status(kit: str, projects: Path, jobs: int, *extra: str) -> tuple[float, int, int, dict[str, Any]]:
    """Wall time, peak tree RSS (KiB), max RSS of one process (KiB), and the report."""
    output = projects.parent / "fleet.json"
    start = time.perf_counter()
    with output.open("w") as handle:
        child = subprocess.Popen([kit, "fleet", "status", str(projects), "--format", "json", "--jobs", str(jobs),
                                  *extra], stdout=handle, stderr=subprocess.PIPE)
        with TreeMemory(child.pid) as memory:
            _, stderr = child.communicate()
    elapsed = time.perf_counter() - start
    if child.returncode not in (0, 1):
        raise SystemExit(f"kit fleet status failed ({child.returncode}): {stderr.decode()[-2000:]}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, memory.peak_kib, largest, json.loads(output.read_text(encoding="utf-8"))


def naive(copier: str, project: Path, scratch: Path) -> tuple[float, bool]:
    """The naive way for one project: copier copy of each layer, then diff -r. Time and verdict."""
    start = time.perf_counter()
    target = scratch / project.name
    for layer in ("base", "ozg-service"):
        recorded = yaml.safe_load((project / f".copier-answers.{layer}.yml").read_text(encoding="utf-8"))
        data = scratch / f"{project.name}-{layer}.yml"
        data.write_text(yaml.safe_dump({k: v for k, v in recorded.items() if not k.startswith("_")},
                                       allow_unicode=True), encoding="utf-8")
        run([copier, "copy", "--quiet", "--defaults", "--overwrite", "--vcs-ref", recorded["_commit"],
             "--data-file", str(data), recorded["_src_path"], str(target)])
    result = subprocess.run(["diff", "-r", "-q", "-x", ".git", "-x", ".copier-answers.*", str(project), str(target)],
                            capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    shutil.rmtree(target, ignore_errors=True)
    return elapsed, bool(result.stdout.strip())


# --- the run ----------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2056, help="projects to generate (default 2056)")
    parser.add_argument("--sample", type=int, default=50, help="projects the naive way is timed on (default 50)")
    parser.add_argument("--modified", type=float, default=0.05, help="fraction of projects modified (default 0.05)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="kit fleet status --jobs")
    parser.add_argument("--with-check", action="store_true", help="also time the report with kit check")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep", type=Path, help="move the generated projects and template repository here")
    return parser.parse_args(argv)


def generate_fleet(root: Path, repo: Path, count: int, jobs: int, kit: str) -> list[Path]:
    """One project per municipality; prints how long it took and how long `kit new` would."""
    entries, origin = municipalities(count, root)
    print(f"  municipalities: {origin}")
    reference_dir = root / "reference"
    start = time.perf_counter()
    run([kit, "new", "ozg-service", str(reference_dir), "--municipality", "augsburg", "--defaults",
         "--source", str(repo), *[a for k, v in SERVICE.items() for a in ("--data", f"{k}={v}")]])
    kit_new_seconds = time.perf_counter() - start
    reference, commit = {}, ""
    for layer in ("base", "ozg-service"):
        recorded = yaml.safe_load((reference_dir / f".copier-answers.{layer}.yml").read_text(encoding="utf-8"))
        reference[layer] = {k: v for k, v in recorded.items() if not k.startswith("_")}
        commit = recorded["_commit"]
    ref_official = reference["base"]["municipality_official_name"]
    projects = root / "projects"
    projects.mkdir()
    work = [(str(projects / f"{entry.ags}-hundesteuer"), str(repo), commit,
             answers_for(entry, reference, ref_official)) for entry in entries]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        list(pool.map(_generate, work, chunksize=16))
    generation = time.perf_counter() - start
    print(f"  generated {len(work)} projects in {generation:.1f} s from the shared render "
          f"(one `kit new` takes {kit_new_seconds:.1f} s here: {kit_new_seconds * len(work) / 60:.0f} min for all)")
    return sorted(projects.iterdir())


def naive_sample(
    copier: str, sample: list[Path], scratch: Path, verdicts: dict[str, bool],
) -> tuple[list[float], list[str]]:
    scratch.mkdir()
    times, disagreements = [], []
    for project in sample:
        seconds, differs = naive(copier, project, scratch)
        times.append(seconds)
        if differs != verdicts[project.name]:
            disagreements.append(project.name)
    return times, disagreements


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    kit, copier = tool("kit"), tool("copier")
    rng = random.Random(args.seed)
    print(f"kit fleet status benchmark: {args.count} projects, {args.modified:.0%} modified, "
          f"naive way on a sample of {args.sample}; {os.cpu_count()} CPUs, --jobs {args.jobs}")
    with isolated_env() as root:
        repo = template_repo(root)
        paths = generate_fleet(root, repo, args.count, args.jobs, kit)
        modified = rng.sample(paths, round(len(paths) * args.modified))
        kinds = {}
        for index, project in enumerate(modified):
            kinds[project.name] = MODIFICATIONS[index % len(MODIFICATIONS)]
            modify(project, kinds[project.name])
        print(f"  modified {len(modified)} projects ({', '.join(MODIFICATIONS)}, in turn)")

        projects = root / "projects"
        shutil.rmtree(root / "kit-home" / "cache", ignore_errors=True)
        cold, cold_tree, cold_largest, report = fleet_status(kit, projects, args.jobs, "--no-check")
        warm = fleet_status(kit, projects, args.jobs, "--no-check")[0]
        rows = {Path(row["location"]).name: row for row in report["projects"]}
        methods: dict[str, int] = {}
        for row in rows.values():
            method = (row["divergence"] or {}).get("method", "none")
            methods[method] = methods.get(method, 0) + 1
        errors = [row for row in rows.values() if row["error"]]
        verdicts = {name: bool(row["divergence"] and row["divergence"]["files"]) for name, row in rows.items()}
        wrong_fleet = [n for n in verdicts if verdicts[n] != (n in kinds)]
        checked = fleet_status(kit, projects, args.jobs) if args.with_check else None

        share = max(1, round(args.sample * len(modified) / len(paths))) if modified else 0
        sample = rng.sample(modified, min(share, len(modified)))
        sample += rng.sample([p for p in paths if p.name not in kinds], args.sample - len(sample))
        times, disagreements = naive_sample(copier, sample, root / "naive", verdicts)
        per_project = statistics.mean(times)
        naive_total = per_project * len(paths)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for name in ("projects", "template-repo", "kit-home"):
                shutil.move(str(root / name), str(args.keep / name))

    ok = naive_total / cold >= TARGET and not disagreements and not wrong_fleet
    print()
    print(f"kit fleet status --no-check, {len(paths)} projects, --jobs {args.jobs}")
    print(f"  cold cache   {cold:8.1f} s   ({cold / len(paths) * 1000:.1f} ms per project)")
    print(f"  warm cache   {warm:8.1f} s")
    print(f"  divergence by {', '.join(f'{n} {m}' for m, n in sorted(methods.items()))}; {len(errors)} error rows")
    print(f"  peak memory  {cold_tree / 1024:8.1f} MiB (the kit and its workers together, sampled); "
          f"largest single process {cold_largest / 1024:.1f} MiB")
    print(f"  verdicts     {len(paths) - len(wrong_fleet)} of {len(paths)} as generated "
          f"(modified: divergent, others: clean)")
    if checked is not None:
        print(f"  with kit check (KIT1xx-KIT5xx per project): {checked[0]:.1f} s, peak {checked[1] / 1024:.1f} MiB")
    print(f"naive way (copier copy of each layer + diff -r), measured on {len(sample)} projects "
          f"({len([p for p in sample if p.name in kinds])} modified) and extrapolated to {len(paths)}")
    print(f"  per project  {per_project:8.2f} s  (median {statistics.median(times):.2f} s)")
    print(f"  extrapolated {naive_total:8.1f} s  ({naive_total / 60:.1f} min)")
    agree = f"agree on {len(sample) - len(disagreements)} of {len(sample)} sampled projects"
    print(f"  verdicts     the naive way and kit fleet status {agree}"
          + (f"; disagree on {', '.join(disagreements)}" if disagreements else ""))
    print(f"ratio: {naive_total / cold:.0f}x (cold cache), {naive_total / warm:.0f}x (warm)   "
          f"target >= {TARGET:.0f}x   {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
