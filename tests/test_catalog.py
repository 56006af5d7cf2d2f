"""`kit catalog`: every service with municipality, LeiKa key, OZG-ID, description, versions and
repository, from projects and published status files; search by LeiKa key and by words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ._fleet_helpers import Fleet, build_fleet, isolated, kit


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("catalog-fleet")
    with isolated(root):
        return build_fleet(root)


def catalog_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = kit("catalog", *args, "--format", "json", "--jobs", "1")
    return code, json.loads(capsys.readouterr().out)


def test_catalogue_lists_every_service(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = catalog_json(capsys, str(fleet.root))
    assert code == 0
    assert result["total"] == result["matches"] == 4
    services = [(s["service"], s["municipality"]["name"]) for s in result["services"]]
    assert services == [
        ("Bewohnerparkausweis", "Nürnberg"), ("Hundesteuer", "München"), ("Hundesteuer", "Augsburg"),
        ("Offene Daten", "Augsburg"),
    ]
    parking = result["services"][0]
    assert parking["leika_key"] == "99108013000000"
    assert parking["ozg_id"] == "10342"
    assert parking["description"].startswith("Bewohnerparkausweis: ein Online-Angebot von Stadt Nürnberg")
    assert parking["versions"] == "base v1.0.0, ozg-service v1.0.0"
    assert parking["repository_url"] == "https://gitlab.opencode.de/nuernberg/bewohnerparkausweis"
    assert parking["municipality"]["ags"] == "09564000"


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param("99123456789012", {("Hundesteuer", "Augsburg"), ("Hundesteuer", "München")}, id="leika-key"),
    pytest.param("urn:de:fim:leika:leistung:99108013000000", {("Bewohnerparkausweis", "Nürnberg")}, id="leika-urn"),
    pytest.param("99108", {("Bewohnerparkausweis", "Nürnberg")}, id="leika-prefix"),
    pytest.param("10215", {("Hundesteuer", "Augsburg"), ("Hundesteuer", "München")}, id="ozg-id"),
    pytest.param("hundesteuer muenchen", {("Hundesteuer", "München")}, id="words-folded"),
    pytest.param("DATEN Schwaben", {("Offene Daten", "Augsburg")}, id="words-case-and-bezirk"),
    pytest.param("0976", {("Hundesteuer", "Augsburg"), ("Offene Daten", "Augsburg")}, id="ags-prefix"),
])
def test_search(query: str, expected: set[tuple[str, str]], fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = catalog_json(capsys, str(fleet.root), "--search", query)
    assert code == 0
    assert {(s["service"], s["municipality"]["name"]) for s in result["services"]} == expected


def test_search_without_match_exits_1(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = catalog_json(capsys, str(fleet.root), "--search", "Fischereischein")
    assert code == 1
    assert result["services"] == []
    assert result["total"] == 4


def test_catalogue_from_status_files_and_unreadable_sources(fleet: Fleet, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    status = tmp_path / "augsburg.json"
    assert kit("fleet", "publish", str(fleet.project("hundesteuer-augsburg")), "-o", str(status), "--no-check") == 0
    code, result = catalog_json(capsys, str(status), str(tmp_path / "missing"), "--search", "99123456789012")
    assert code == 1
    assert [s["municipality"]["name"] for s in result["services"]] == ["Augsburg"]
    assert result["services"][0]["location"] == str(status)
    assert "no such file or directory" in result["unreadable"][0]["error"]


def test_markdown_and_html(fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kit("catalog", str(fleet.root), "--format", "markdown", "--jobs", "1") == 0
    markdown = capsys.readouterr().out
    assert "| Hundesteuer | München | 09162000 | 99123456789012 | 10215 |" in markdown
    page = tmp_path / "catalog.html"
    assert kit("catalog", str(fleet.root), "--format", "html", "-o", str(page), "--jobs", "1") == 0
    html = page.read_text(encoding="utf-8")
    assert "Bewohnerparkausweis" in html
    # links to repositories are fine; nothing is loaded from anywhere
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"https?:", html)
    assert kit("catalog", str(fleet.root), "--search", "parkausweis", "--jobs", "1") == 0
    assert "Bewohnerparkausweis  [Nürnberg (09564000)]  LeiKa 99108013000000  OZG 10342" in capsys.readouterr().out
