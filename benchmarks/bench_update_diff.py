"""Benchmark `kit diff` and `kit update` against the Copier work they wrap.

Each pair is measured in the same run, interleaved, on the same template repository (a copy of
this repository's template set, tagged v1.0.0 and v1.1.0) and the same project (`ozg-service`,
two layers, generated from v1.0.0 for the municipality Augsburg):

1. `kit diff` (render cache cleared each round) against `copier copy` of the same version with the
   same answers, one run per layer into one directory: the rendering kit diff must do. Target
   <= 1.2x.
2. `kit update` against plain `copier update` of each layer (with a commit between, as Copier
   refuses a dirty tree), each on a fresh copy of the project. Target <= 1.2x.
3. A second `kit diff` with unchanged versions and answers (cache warm) against the first (cache
   cleared). Target <= 0.3x.

Usage: ``python benchmarks/bench_update_diff.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml
from _common import git, interleaved, isolated_env, report, run, template_repo, tool

LAYERS = ("base", "ozg-service")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    kit, copier = tool("kit"), tool("copier")
    with isolated_env() as root:
        repo = template_repo(root)
        pristine = root / "pristine"
        run([kit, "new", "ozg-service", str(pristine), "--municipality", "augsburg", "--defaults",
             "--source", str(repo)])
        data_files = []
        for layer in LAYERS:
            answers = yaml.safe_load((pristine / f".copier-answers.{layer}.yml").read_text(encoding="utf-8"))
            data_file = root / f"answers-{layer}.yml"
            data_file.write_text(yaml.safe_dump({k: v for k, v in answers.items() if not k.startswith("_")},
                                                allow_unicode=True), encoding="utf-8")
            data_files.append((layer, data_file))
        renders = root / "kit-home" / "cache" / "renders"

        def kit_diff_cold(_i: int) -> None:
            shutil.rmtree(renders, ignore_errors=True)
            run([kit, "diff", str(pristine), "--stat"])

        def kit_diff_warm(_i: int) -> None:
            run([kit, "diff", str(pristine), "--stat"])

        def copier_copy(i: int) -> None:
            dest = root / f"copier-copy-{i}"
            for layer, data_file in data_files:
                run([copier, "copy", "--quiet", "--defaults", "--overwrite", "--vcs-ref", "v1.0.0",
                     "--answers-file", f".copier-answers.{layer}.yml", "--data-file", str(data_file),
                     str(repo), str(dest)])
            shutil.rmtree(dest)

        diff_times = interleaved({"kit diff (cold cache)": kit_diff_cold, "copier copy (2 layers)": copier_copy},
                                 args.rounds)
        cache_times = interleaved({"kit diff (warm cache)": kit_diff_warm, "kit diff (cold cache)": kit_diff_cold},
                                  args.rounds)

        # a release that changes a managed file of each layer and adds one
        (repo / "templates" / "base" / "project" / "HINWEIS.md").write_text("Neu in v1.1.0.\n", encoding="utf-8")
        with (repo / "templates" / "base" / "project" / "CONTRIBUTING.md").open("a", encoding="utf-8") as handle:
            handle.write("\nNeu in v1.1.0.\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "v1.1.0")
        git(repo, "tag", "v1.1.0")

        def fresh(name: str, i: int) -> Path:
            project = root / f"{name}-{i}"
            shutil.copytree(pristine, project, symlinks=True)
            return project

        def kit_update(i: int) -> None:
            project = fresh("kit-update", i)
            run([kit, "update", str(project), "--to", "v1.1.0"])
            shutil.rmtree(project)

        def copier_update(i: int) -> None:
            project = fresh("copier-update", i)
            for layer in LAYERS:
                run([copier, "update", "--quiet", "--skip-answered", "--defaults",
                     "--answers-file", f".copier-answers.{layer}.yml", "--vcs-ref", "v1.1.0"], cwd=project)
                git(project, "add", "-A")
                git(project, "commit", "-q", "--allow-empty", "-m", f"update {layer}")
            shutil.rmtree(project)

        update_times = interleaved({"kit update": kit_update, "copier update (2 layers)": copier_update},
                                   args.rounds)

    ok = report("kit diff vs copier copy of the same version and answers",
                "kit diff (cold cache)", "copier copy (2 layers)", diff_times, 1.2)
    ok &= report("kit update vs plain copier update of each layer",
                 "kit update", "copier update (2 layers)", update_times, 1.2)
    ok &= report("second kit diff (render cached) vs first",
                 "kit diff (warm cache)", "kit diff (cold cache)", cache_times, 0.3)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
