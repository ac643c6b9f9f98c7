"""The registry in ``penstock ui`` and the run report, loaded in headless Chromium: the model list,
a model's page (versions, blessings with per-slice thresholds, manual blessing, base model,
what serves, the rollback), the diff of two versions, and a comparison of three runs."""

from __future__ import annotations

import pytest

from tests.registry import _store
from tests.report.conftest import screenshot, ui_server

pytestmark = pytest.mark.slow  # the session's registry store runs the penguin pipeline


@pytest.fixture(scope="module")
def ui(registry):
    with ui_server(registry.store) as url:
        yield url


def _load(browser, url: str) -> None:
    page = browser.load(url)
    assert page.state == "ok" and page.errors == [], page.errors


def _texts(browser, selector: str) -> list[str]:
    return browser.evaluate(f"Array.from(document.querySelectorAll({selector!r})).map(e => e.innerText)")


def test_model_list_and_model_page(registry, ui, browser):
    _load(browser, ui + "/models")
    assert browser.evaluate("Array.from(document.querySelectorAll('tr[data-model]')).map(r => r.dataset.model)") == [
        "penguin", "penguin-edge"]
    assert "(pinned)" in _texts(browser, "tr[data-model='penguin']")[0]
    screenshot(browser, "ui-models.png")

    _load(browser, ui + "/models/penguin")
    versions = browser.evaluate("Array.from(document.querySelectorAll('.version-card')).map(c => c.dataset.version)")
    assert versions == ["3", "2", "1"]
    assert _texts(browser, ".served") == ["1"]
    first = _texts(browser, "#version-1")[0]
    assert "SERVING" in first and "sparse_categorical_accuracy" in first and "met" in first
    assert "span 0" in first and '"train":214' in first.replace(" ", "")
    assert "none: trained from scratch" in first
    assert "(penguin version 1) (warm start)" in _texts(browser, "#version-2 .base-model")[0]
    forced = _texts(browser, "#version-3 .blessings")[0]
    assert f"blessed by hand by {_store.BLESSED_BY}" in forced and _store.MANUAL_REASON in forced
    assert "FAILED" in forced  # the Evaluator's refusal, with the slices that failed
    rollback = _texts(browser, ".rollback-table")[0]
    assert _store.ROLLBACK_REASON in rollback and _store.BLESSED_BY in rollback
    screenshot(browser, "ui-model.png")


def test_diff_page_and_three_run_comparison(registry, ui, browser):
    _load(browser, f"{ui}/models/penguin/diff?a=1&b=2")
    assert "train_args.num_steps: 100 → 150" in _texts(browser, ".diff-training")[0]
    assert any(row.startswith("sparse_categorical_accuracy\tOverall\t") for row in _texts(browser, ".diff-metrics tr"))
    screenshot(browser, "ui-model-diff.png")

    trained = registry.run_ids[:3]
    _load(browser, ui + "/compare?" + "&".join(f"run={r}" for r in trained))
    header = _texts(browser, ".compare-table tr th")
    assert header[2:5] == trained and len(header) == 2 + 3 + 2 + 1  # values, two changes, threshold
    parameters = _texts(browser, ".compare-parameters tr")
    assert any('{"num_steps": 100}' in row and '{"num_steps": 150}' in row and '{"num_steps": 1}' in row
               for row in parameters)
    assert "hit: reused the outputs" in _texts(browser, ".compare-durations")[0]
    assert "drift 0" in _texts(browser, ".compare-drift")[0]  # same data in all three runs
    assert int(browser.evaluate("document.querySelectorAll('#section-compare-metrics svg.marks').length")) == 1
    screenshot(browser, "ui-compare-three.png")


def test_run_report_has_the_model_version_section(registry, ui, browser):
    _load(browser, f"{ui}/runs/{registry.run_ids[1]}")
    section = str(browser.evaluate("document.getElementById('section-model-version').innerText"))
    assert "version 2" in section and "warm start" in section and "sparse_categorical_accuracy" in section
