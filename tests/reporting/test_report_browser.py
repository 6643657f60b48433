"""reports/index.html in a real headless Chromium with the network blocked: no console errors, every
plot rendered, the numbers shown equal metrics.json, a static fallback without JavaScript; screenshots
are saved as test artifacts ($TEST_ARTIFACTS, else test-artifacts/ in the repo).

The page comes from the session's tiny `dvc repro` (conftest.dvc_project), so it is the real stage
output. Without Chromium or Playwright the tests skip locally, but fail under CI (CI is set).
"""
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1366, "height": 768}   # a laptop screen


def need_browser():
    """Playwright's sync API, or skip (locally) / fail (CI) with the reason."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright Python package is not installed"
    if reason is None and not Path(CHROMIUM).is_file():
        reason = f"Chromium not found at {CHROMIUM} (Debian package 'chromium'; .ci/run installs it)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run under CI: {reason}")
        pytest.skip(reason)
    return sync_playwright


def artifacts() -> Path:
    path = Path(os.environ.get("TEST_ARTIFACTS") or REPO / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page_path(dvc_project) -> Path:
    path = dvc_project / "reports" / "index.html"
    assert path.is_file(), "dvc repro did not write reports/index.html"
    return path


def open_page(sync_playwright, tmp_path, url, javascript=True):
    """(playwright, context, page, console errors, requests) for `url` in a fresh profile, network blocked."""
    p = sync_playwright().start()
    context = p.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS, offline=True,
        viewport=VIEWPORT, java_script_enabled=javascript)
    page = context.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
    page.goto(url, wait_until="load")
    return p, context, page, errors, requests


def close(p, context):
    context.close()
    p.stop()


def test_page_renders_offline_without_errors(page_path, tmp_path):
    sync_playwright = need_browser()
    url = page_path.as_uri()
    p, context, page, errors, requests = open_page(sync_playwright, tmp_path, url)
    try:
        page.wait_for_function("document.querySelectorAll('.plot[data-fig] .main-svg').length > 0", timeout=20000)
        page.wait_for_timeout(300)
        plots = page.evaluate("""() => [...document.querySelectorAll('.plot[data-fig]')].map(el => {
            const box = el.getBoundingClientRect();
            const drawn = [...el.querySelectorAll('svg.main-svg, canvas')].filter(s => s.childElementCount > 0
                          || s.tagName === 'CANVAS');
            const marks = el.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length;
            return {fig: el.dataset.fig, width: box.width, height: box.height, drawn: drawn.length, marks};
        })""")
        page.screenshot(path=str(artifacts() / "report-top.png"))
        page.screenshot(path=str(artifacts() / "report-full.png"), full_page=True)
        page.locator("#cells").screenshot(path=str(artifacts() / "report-cells.png"))
    finally:
        close(p, context)
    assert errors == []
    assert requests == [url]                                    # nothing but the file itself was fetched
    figs = {x["fig"] for x in plots}
    assert {"roc", "pr", "calibration", "gains"} <= figs and any(f.startswith("history-") for f in figs)
    assert {"cells-auc", "cells-gradients"} <= figs                     # "Recurrent cells compared"
    empty = [x for x in plots if not (x["drawn"] and x["marks"] and x["width"] > 100 and x["height"] > 100)]
    assert empty == [], f"plot containers without a rendered chart: {empty}"


def test_numbers_in_the_browser_equal_metrics_json(page_path, tmp_path):
    sync_playwright = need_browser()
    metrics = json.loads((page_path.parent / "metrics.json").read_text())
    p, context, page, _, _ = open_page(sync_playwright, tmp_path, page_path.as_uri())
    try:
        rows = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('tr[data-family]')].map(tr =>
            [tr.dataset.family, Object.fromEntries([...tr.querySelectorAll('[data-key]')].map(
                s => [s.dataset.key, s.dataset.value]))]))""")
        visible = page.evaluate("document.querySelector('.board').getBoundingClientRect().top")
    finally:
        close(p, context)
    assert list(rows) == metrics["ranking"] + (["oracle"] if "oracle" in metrics else [])
    for family in metrics["ranking"]:
        m = metrics["models"][family]
        assert float(rows[family]["roc_auc"]) == m["roc_auc"]
        assert [float(rows[family]["roc_auc_low"]), float(rows[family]["roc_auc_high"])] == m["roc_auc_ci"]
        assert float(rows[family]["average_precision"]) == m["average_precision"]
        assert float(rows[family]["cv_score"]) == m["cv_score"]
    assert visible < VIEWPORT["height"]                          # the leaderboard starts on the first screen


def test_static_fallback_without_javascript(page_path, tmp_path):
    sync_playwright = need_browser()
    p, context, page, errors, _ = open_page(sync_playwright, tmp_path, page_path.as_uri(), javascript=False)
    try:
        static, cells = (page.evaluate("""(selector) => { const el = document.querySelector(selector);
            const box = el.getBoundingClientRect();
            return {svg: el.querySelectorAll('svg path').length, height: box.height}; }""", selector)
            for selector in (".curves .static", ".cells .static"))
        page.locator(".curves").screenshot(path=str(artifacts() / "report-curves-no-javascript.png"))
    finally:
        close(p, context)
    assert errors == []
    assert static["svg"] > 10 and static["height"] > 200
    assert cells["svg"] > 10 and cells["height"] > 200
