"""Benchmark `kit new base` against plain `copier copy`, and `kit --help` against `copier --help`.

Both sides of each pair are measured in the same run, interleaved, on the same template
repository and with the same answers. Usage: ``python benchmarks/bench_new.py [--rounds N]``.
Targets (issue 2): kit new <= 1.2x copier copy; kit --help <= 0.3x copier --help.
"""

from __future__ import annotations

import argparse
import sys

import yaml
from _common import interleaved, isolated_env, report, run, template_repo, tool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    kit, copier = tool("kit"), tool("copier")
    with isolated_env() as root:
        repo = template_repo(root)
        # The answers kit new records are the answers copier copy gets: same work on both sides.
        probe = root / "probe"
        run([kit, "new", "base", str(probe), "--municipality", "augsburg", "--defaults", "--source", str(repo)])
        answers = {
            k: v
            for k, v in yaml.safe_load((probe / ".copier-answers.base.yml").read_text()).items()
            if not k.startswith("_")
        }
        data_file = root / "answers.yml"
        data_file.write_text(yaml.safe_dump(answers, allow_unicode=True))

        def kit_new(i: int) -> None:
            run(
                [
                    kit,
                    "new",
                    "base",
                    str(root / f"kit-{i}"),
                    "--municipality",
                    "augsburg",
                    "--defaults",
                    "--source",
                    str(repo),
                ]
            )

        def copier_copy(i: int) -> None:
            run(
                [
                    copier,
                    "copy",
                    "--quiet",
                    "--defaults",
                    "--vcs-ref",
                    "v1.0.0",
                    "--data-file",
                    str(data_file),
                    str(repo),
                    str(root / f"copier-{i}"),
                ]
            )

        new_times = interleaved({"kit new base": kit_new, "copier copy": copier_copy}, args.rounds)
        help_times = interleaved(
            {
                "kit --help": lambda _i: run([kit, "--help"]),
                "copier --help": lambda _i: run([copier, "--help"]),
            },
            args.rounds,
        )
    ok = report(
        "kit new base vs copier copy (same template, same answers)", "kit new base", "copier copy", new_times, 1.2
    )
    ok &= report("kit --help vs copier --help", "kit --help", "copier --help", help_times, 0.3)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
