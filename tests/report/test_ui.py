"""``penstock ui``: the run list, a run's page and the compare page, served on loopback and
loaded in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.report.conftest import screenshot, section_text, sections_present, svg_count, ui_server


@pytest.fixture(scope="module")
def ui(runs):
    with ui_server(runs.store) as url:
        yield url


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_run_list_and_run_pages(runs, ui, browser):
    page = browser.load(ui + "/")
    assert page.state == "ok" and page.errors == [], page.errors
    listed = browser.evaluate("Array.from(document.querySelectorAll('tr[data-run]')).map(r => r.dataset.run)")
    assert listed == [runs.failed, runs.compared, runs.not_blessed, runs.blessed]  # newest first
    screenshot(browser, "ui-runs.png")

    page = browser.load(f"{ui}/runs/{runs.blessed}")
    assert page.state == "ok" and page.errors == [], page.errors
    assert all(u.startswith(ui) or u.startswith("data:") for u in page.requests), page.requests
    assert all(sections_present(browser).values())
    assert svg_count(browser, "statistics") == 5 and svg_count(browser, "evaluation") == 3
    assert "pushed version 1" in section_text(browser, "pushed")
    screenshot(browser, "ui-run.png")

    status, body = _get(f"{ui}/runs/{runs.blessed}/report.html")
    assert status == 200 and "<script src=" not in body and "vegaEmbed" in body


def test_compare_two_runs_side_by_side(runs, ui, browser):
    page = browser.load(f"{ui}/compare?a={runs.blessed}&b={runs.not_blessed}")
    assert page.state == "ok" and page.errors == [], page.errors
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('.compare-table tr')).slice(1).map(r => Array.from(r.cells).map(c => c.innerText))")
    by_key = {(r[0], r[1]): r for r in rows}
    overall = by_key[("binary_accuracy", "Overall")]
    assert overall[2] and overall[3] and overall[5] == ">= 0.99"  # both values, B's threshold
    assert by_key[("example_count", "Overall")][2] == by_key[("example_count", "Overall")][3]
    assert svg_count(browser, "compare-metrics") == 1
    assert "not pushed" in section_text(browser, "compare-runs")
    screenshot(browser, "ui-compare.png")

    # A failed run has no metrics: its column is empty, not an error.
    status, body = _get(f"{ui}/compare?a={runs.failed}&b={runs.blessed}")
    assert status == 200 and "binary_accuracy" in body


def test_unknown_pages_are_404_with_a_message(runs, ui):
    status, body = _get(f"{ui}/runs/no-such-run")
    assert status == 404 and "no run &#39;no-such-run&#39;" in body
    assert _get(f"{ui}/static/../../secrets")[0] == 404
    assert _get(f"{ui}/static/other.js")[0] == 404
    status, body = _get(f"{ui}/compare?a={runs.blessed}")
    assert status == 400 and "compare needs two or more runs" in body


def test_only_loopback_host_names_are_answered(runs, ui):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends its own Host."""
    port = ui.rsplit(":", 1)[1]
    for host, status in ((f"evil.example:{port}", 403), ("evil.example", 403), (f"localhost:{port}", 200),
                         (f"127.0.0.1:{port}", 200), (f"[::1]:{port}", 200)):
        request = urllib.request.Request(ui + "/", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                answered, body = response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            answered, body = e.code, e.read().decode()
        assert answered == status, (host, body[:300])
        assert (runs.blessed in body) == (status == 200)
    assert "DNS rebinding" in body or status == 200


def test_ui_command_serves_on_loopback(runs, tmp_path):
    proc = subprocess.Popen([*PENSTOCK, "ui", "--port", "0", "--metadata", runs.metadata], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("penstock ui serving http://127.0.0.1:"), line
        base = line.split()[3].rstrip("/")
        status, body = _get(base + "/")
        assert status == 200 and runs.blessed in body and runs.failed in body
        status, body = _get(f"{base}/runs/{runs.failed}")
        assert status == 200 and "SKIPPED" in body and "no evaluation in this run" in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)
