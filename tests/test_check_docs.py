"""The rule pages of `kit check` are generated from the rules; these tests fail when they are stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitcli.checks import all_rules
from kitcli.checks.docs import SCHEMA_PATH, main, pages, stale, write

from .conftest import REPO_ROOT


def test_committed_rule_pages_are_current() -> None:
    outdated = stale(REPO_ROOT)
    assert outdated == [], f"stale: {outdated}; run `python -m kitcli.checks.docs`"


def test_regenerating_into_an_empty_directory_matches_the_repository(tmp_path: Path) -> None:
    written = write(tmp_path)
    assert sorted(written) == sorted(pages())
    for relpath in written:
        assert (tmp_path / relpath).read_text(encoding="utf-8") == (REPO_ROOT / relpath).read_text(encoding="utf-8")


def test_every_rule_has_a_page_with_code_description_and_fix() -> None:
    generated = pages()
    index = generated["docs/rules/index.md"]
    for rule in all_rules():
        page = generated[f"docs/rules/{rule.code}.md"]
        assert page.splitlines()[2] == f"# {rule.code}: {rule.description()}"
        assert "**How to fix:**" in page, rule.code
        assert f"[{rule.code}]({rule.code}.md)" in index
        if rule.go_live:
            assert "--strict" in page


def test_check_mode_reports_an_edited_page_and_a_leftover(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path)
    assert main(["--root", str(tmp_path), "--check"]) == 0
    (tmp_path / "docs/rules/KIT101.md").write_text("edited by hand\n", encoding="utf-8")
    (tmp_path / "docs/rules/KIT999.md").write_text("a rule that no longer exists\n", encoding="utf-8")
    assert main(["--root", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "stale: docs/rules/KIT101.md" in err
    assert "stale: docs/rules/KIT999.md" in err
    assert main(["--root", str(tmp_path)]) == 0
    assert not (tmp_path / "docs/rules/KIT999.md").exists()
    assert stale(tmp_path) == []


def test_schema_lists_every_rule_code() -> None:
    import json

    schema = json.loads(pages()[SCHEMA_PATH])
    assert schema["$defs"]["result"]["properties"]["code"]["enum"] == [rule.code for rule in all_rules()]
