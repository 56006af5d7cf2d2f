"""Accessibility (WCAG 2.1 AA): axe-core in headless Chromium on every page, keyboard and zoom.

The service runs under uvicorn on 127.0.0.1 with a free port. Chromium is the system's
(/usr/bin/chromium or CHROMIUM_PATH), never a downloaded one. Without it these tests are skipped,
unless SERVICE_REQUIRE_BROWSER=1 (set in CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.forms import FormDefinition
from app.settings import PROJECT_ROOT
from tests.conftest import SECRET
from tests.samples import sample_files, sample_pdf, sample_png, sample_value

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("a11y-var")
    env = {**os.environ, "SERVICE_ENV": "development", "SERVICE_SECRET_KEY": SECRET,
           "SERVICE_DATA_DIR": str(data), "SERVICE_DELIVERY_INTERVAL": "0",
           "SERVICE_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"uvicorn did not start: {server.stderr.read()!r}") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        if os.environ.get("SERVICE_REQUIRE_BROWSER") == "1":
            pytest.fail("SERVICE_REQUIRE_BROWSER=1 but no Chromium found "
                        "(/usr/bin/chromium or CHROMIUM_PATH)")
        pytest.skip("no Chromium found (/usr/bin/chromium or CHROMIUM_PATH): "
                    "accessibility tests need the system's Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} – "
            + ", ".join(str(node["target"]) for node in v["nodes"][:3])
            for v in results.response["violations"]]


def fill_page(page: Any, fields: Any) -> None:
    for field in fields:
        value = sample_value(field)
        if field.type == "radio":
            page.check(f"#f-{field.name}-0")
        elif field.type == "checkbox":
            page.check(f"#f-{field.name}")
        elif field.type == "select":
            page.select_option(f"#f-{field.name}", value)
        elif field.type == "file":
            page.set_input_files(f"#f-{field.name}", [
                {"name": name, "mimeType": mime, "buffer": content}
                for name, content, mime in sample_files(field)])
        else:
            page.fill(f"#f-{field.name}", value)


def submit(page: Any) -> None:
    with page.expect_navigation():
        # The form's own button ("Weiter", "Absenden"), not an "Entfernen" of a file list.
        page.click("main form[data-prevent-double-submit] > button[type=submit]")


def test_every_page_has_no_axe_violations(
    browser: Any, base_url: str, form: FormDefinition
) -> None:
    context = browser.new_context()
    page = context.new_page()
    checked: dict[str, list[str]] = {}

    def check(name: str) -> None:
        checked[name] = axe_violations(page)

    page.goto(f"{base_url}/")
    check("start")
    page.click("a.button--start")
    for form_page in form.pages:
        check(f"form page {form_page.id}")
        if any(field.required for field in form_page.fields):
            submit(page)  # empty: every required field fails
            assert page.locator(".error-summary").count() == 1, form_page.id
            check(f"form page {form_page.id} with errors")
        fill_page(page, form_page.fields)
        submit(page)
    assert page.url.endswith("/antrag/pruefen")
    check("check answers")
    submit(page)
    assert "/antrag/bestaetigung" in page.url
    check("confirmation")
    page.go_back()  # Back after submitting: the Vorgangsnummer, not the form again
    page.goto(base_url + "/antrag/pruefen")
    assert page.locator("[data-reference]").count() == 1
    check("already submitted")
    for path in ["/impressum", "/datenschutz", "/barrierefreiheit",
                 "/barrierefreiheit/feedback"]:
        page.goto(base_url + path)
        check(path)
    submit(page)
    check("/barrierefreiheit/feedback with errors")
    page.fill("#f-problem", "Testmeldung")
    submit(page)
    check("feedback thanks")
    page.goto(f"{base_url}/gibt-es-nicht")
    check("404")
    page.goto(f"{base_url}/?lang=en")
    check("start (English)")
    context.close()

    expected = len(form.pages) + sum(
        any(field.required for field in p.fields) for p in form.pages) + 12
    assert len(checked) == expected
    failures = {name: found for name, found in checked.items() if found}
    assert not failures, "axe-core violations:\n" + "\n".join(
        f"{name}:\n  " + "\n  ".join(found) for name, found in failures.items())


def test_file_fields_have_no_axe_violations_empty_chosen_and_refused(
    browser: Any, base_url: str, form: FormDefinition
) -> None:
    """Each page with a file field: as it first shows, after a refused file (the error state),
    and with files uploaded (listed with their "Entfernen" buttons); then check answers."""
    pages = [p for p in form.pages if any(field.type == "file" for field in p.fields)]
    if not pages:
        pytest.skip("form.toml has no file field")  # a municipality's form may have none
    context = browser.new_context()
    page = context.new_page()
    checked: dict[str, list[str]] = {}
    page.goto(f"{base_url}/antrag/{form.pages[0].id}")
    for form_page in form.pages:
        if form_page in pages:
            field = next(f for f in form_page.fields if f.type == "file")
            checked[f"{form_page.id}: empty"] = axe_violations(page)
            page.set_input_files(f"#f-{field.name}", [
                {"name": "leer.pdf", "mimeType": "application/pdf", "buffer": b""}])
            submit(page)
            assert page.locator(".error-summary").count() == 1
            assert page.locator(f"#f-{field.name}[aria-invalid=true]").count() == 1
            checked[f"{form_page.id}: refused file"] = axe_violations(page)
            fill_page(page, form_page.fields)
            submit(page)
            page.goto(f"{base_url}/antrag/{form_page.id}")
            assert page.locator(".file-list__item").count() >= 1
            checked[f"{form_page.id}: files chosen"] = axe_violations(page)
        fill_page(page, [f for f in form_page.fields if f.type != "file"])
        submit(page)
    page.goto(f"{base_url}/antrag/pruefen")
    assert page.locator(".summary-list .file-list__item").count() >= 1
    checked["check answers with files"] = axe_violations(page)
    context.close()
    assert len(checked) == 3 * len(pages) + 1
    failures = {name: found for name, found in checked.items() if found}
    assert not failures, "axe-core violations:\n" + "\n".join(
        f"{name}:\n  " + "\n  ".join(found) for name, found in failures.items())


def test_files_upload_and_remove_without_javascript(
    browser: Any, base_url: str, form: FormDefinition
) -> None:
    """Choosing, sending and removing files is plain HTML: the remove buttons reach their own
    form (form="remove-files"), and Enter in the page still means "Weiter"."""
    target = next((p for p in form.pages if any(f.type == "file" for f in p.fields)), None)
    if target is None:
        pytest.skip("form.toml has no file field")
    field = next(f for f in target.fields if f.type == "file")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/antrag/{target.id}")
    page.set_input_files(f"#f-{field.name}", [
        {"name": "erster.pdf", "mimeType": "application/pdf", "buffer": sample_pdf("1")},
        {"name": "zweiter.png", "mimeType": "image/png", "buffer": sample_png()}])
    submit(page)
    page.goto(f"{base_url}/antrag/{target.id}")
    assert page.locator(".file-list__name").all_inner_texts() == ["erster.pdf", "zweiter.png"]
    with page.expect_navigation():
        page.click("button[name=remove]:has-text('erster.pdf')")
    assert page.url.endswith(f"/antrag/{target.id}")
    assert page.locator(".file-list__name").all_inner_texts() == ["zweiter.png"]
    context.close()


def test_no_horizontal_scrolling_at_400_percent_zoom(
    browser: Any, base_url: str, form: FormDefinition
) -> None:
    # 1280 CSS pixels at 400 % zoom are 320 CSS pixels (WCAG 1.4.10 Reflow).
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    paths = ["/", "/impressum", "/datenschutz", "/barrierefreiheit",
             "/barrierefreiheit/feedback", "/gibt-es-nicht", "/?lang=en"]
    paths += [f"/antrag/{p.id}" for p in form.pages]
    too_wide = {}
    for path in paths:
        page.goto(base_url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 320:
            too_wide[path] = width
    page.goto(f"{base_url}/antrag/{form.pages[0].id}")
    submit(page)
    if (width := page.evaluate("document.documentElement.scrollWidth")) > 320:
        too_wide["error state"] = width
    context.close()
    assert not too_wide, f"horizontal scrolling at 320 px: {too_wide}"


def test_keyboard_skip_link_and_visible_focus(browser: Any, base_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None
    assert box["y"] >= 0, "skip link not visible when focused"
    background = page.evaluate("getComputedStyle(document.activeElement).backgroundColor")
    assert background == "rgb(255, 221, 0)", "focus is not highlighted"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()


def test_error_summary_gets_focus_and_links_to_fields(
    browser: Any, base_url: str, form: FormDefinition
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/antrag/{form.pages[0].id}")
    submit(page)
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    first = page.locator(".error-summary a").first
    target = first.get_attribute("href")[1:]
    first.click()
    assert page.evaluate("document.activeElement.id") == target
    context.close()


def test_the_session_warning_appears_in_time_and_extends_the_session(
    browser: Any, base_url: str, form: FormDefinition
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.clock.install()
    page.goto(f"{base_url}/antrag/{form.pages[0].id}")
    warning = page.locator("[data-session-warning]")
    expires_in = int(warning.get_attribute("data-expires-in") or 0)
    warn_before = int(warning.get_attribute("data-warn-before") or 0)
    assert warn_before >= 20, "WCAG 2.2.1 asks for at least 20 seconds to react"
    page.clock.run_for((expires_in - warn_before - 5) * 1000)
    assert warning.is_hidden(), "warned too early"
    page.clock.run_for(10 * 1000)
    assert warning.is_visible()
    assert page.evaluate("document.activeElement.hasAttribute('data-session-warning')")
    assert axe_violations(page) == []
    with page.expect_response("**/sitzung/verlaengern") as extended:
        warning.get_by_role("button").click()
    assert extended.value.status == 200
    warning.wait_for(state="hidden")
    assert page.url.endswith(f"/antrag/{form.pages[0].id}"), "the page was left"
    context.close()
