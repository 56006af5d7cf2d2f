"""The fleet's HTML report in headless Chromium: it renders, logs no errors, loads nothing from
outside the file, and its table sorts when a header is clicked."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ._fleet_helpers import kit, make_template_repo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.browser


def status_file(directory: Path, name: str, *, source: Path, ags: str, municipality: str, service: str,
                managed: int = 0, failed: int = 0) -> None:
    files = [{"path": "app/main.py", "ownership": "managed", "change": "changed", "declared": False, "reason": None}]
    document = {
        "kit_status_version": 1,
        "generated_at": "2026-11-26T08:00:00+00:00",
        "kit_version": "0.1.0",
        "project": {"name": name, "service": service, "template": "ozg-service", "url": f"https://example.org/{name}",
                    "municipality": {"ags": ags, "name": municipality}},
        "templates": [{"name": "base", "version": "v1.0.0", "src_path": str(source)},
                      {"name": "ozg-service", "version": "v1.0.0", "src_path": str(source)}],
        "divergence": {"managed": managed, "seeded": 0, "declared": 0, "stale": 0, "method": "exact render",
                       "files": files[:managed]},
        "check": {"passed": 30, "failed": failed, "warnings": 2, "not_applicable": 4, "ignored": 0,
                  "failed_codes": ["KIT201"] * failed},
        "last_commit": "2026-11-20T10:00:00+01:00",
        "service": {"name": service, "leika_key": "99123456789012"},
        "error": None,
    }
    (directory / f"{name}.json").write_text(json.dumps(document), encoding="utf-8")


@pytest.fixture
def report(tmp_path: Path) -> Path:
    source = make_template_repo(tmp_path / "template-repo")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    status_file(artifacts, "a-hundesteuer", source=source, ags="09761000", municipality="Augsburg",
                service="Hundesteuer <online>")
    status_file(artifacts, "b-parken", source=source, ags="09162000", municipality="München",
                service="Bewohnerparken", managed=1)
    status_file(artifacts, "c-fischerei", source=source, ags="09564000", municipality="Nürnberg",
                service="Fischereischein", failed=1)
    (artifacts / "d-broken.json").write_text("{", encoding="utf-8")
    output = tmp_path / "fleet.html"
    assert kit("fleet", "status", str(artifacts), "--format", "html", "--output", str(output), "--jobs", "1") == 1
    return output


def test_report_renders_offline_and_sorts(report: Path) -> None:
    if not Path(CHROMIUM).exists():
        # CI installs Chromium (.ci/run): there a missing browser is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM} although CI is set")
        pytest.skip(f"Chromium not found at {CHROMIUM}: `apt-get install chromium` to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install -e '.[test]'")
    url = report.as_uri()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="load")

            assert page.title() == "Fleet status: 4 projects"
            counts = {key: page.inner_text(f'#summary [data-key="{key}"]')
                      for key in ("on_newest", "behind", "drifting", "failing_checks", "errors")}
            assert counts == {"on_newest": "3", "behind": "0", "drifting": "1", "failing_checks": "1", "errors": "1"}
            assert "on the newest release" in page.inner_text("#summary")
            assert "Schwaben" in page.inner_text("#bezirke")
            assert "Hundesteuer <online>" in page.inner_text("#projects")  # escaped, shown as text

            def column(index: int) -> list[str]:
                return page.eval_on_selector_all(
                    "#projects tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent.trim())")

            before = column(1)
            page.click("#projects thead th:nth-child(2) button")
            ascending = column(1)
            assert ascending != before
            assert ascending == sorted(ascending)
            assert page.get_attribute("#projects thead th:nth-child(2)", "aria-sort") == "ascending"
            page.click("#projects thead th:nth-child(2) button")
            assert column(1) == sorted(ascending, reverse=True)

            page.click("#projects thead th:nth-child(7) button")  # Managed: numeric, n/a last
            assert column(6)[:3] == ["0", "0", "1"]

            page.fill("#filter", "fischerei")
            visible = page.eval_on_selector_all("#projects tbody tr", "rows => rows.filter(r => !r.hidden).length")
            assert visible == 1
        finally:
            browser.close()
    assert problems == []
    assert requests, "the page itself was not requested"
    assert all(r == url or r.startswith("data:") for r in requests), requests
