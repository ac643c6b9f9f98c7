"""Fixtures of the report tests: four real runs of a small pipeline (complete and blessed, not
blessed, a second model compared with a baseline, failed) in one metadata store, and one headless Chromium for the whole session."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from penstock.metadata import connection
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner
from tests.report import _pipeline
from tests.report._browser import Browser
from tests.servers.apt import apt_lock

HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.path.join(HERE, "artifacts")
SECTIONS = ("summary", "dag", "timeline", "statistics", "anomalies", "evaluation", "blessing", "pushed", "lineage")


@dataclasses.dataclass
class Runs:
    root: str
    metadata: str
    csv_path: str
    store: MetadataStore
    blessed: str
    not_blessed: str
    compared: str  # the second model on: a baseline and a change threshold
    failed: str


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Runs:
    root = str(tmp_path_factory.mktemp("report-runs"))
    csv_path = _pipeline.write_csv(os.path.join(root, "penguins.csv"))
    runner = LocalRunner()
    blessed = runner.run(_pipeline.build(root, csv_path))
    assert blessed.succeeded, blessed.errors
    not_blessed = runner.run(_pipeline.build(root, csv_path, min_accuracy=0.99))
    assert not_blessed.succeeded, not_blessed.errors
    compared = runner.run(_pipeline.build(root, csv_path, with_baseline=True))
    assert compared.succeeded, compared.errors
    failed = runner.run(_pipeline.build(root, csv_path, fail_training=True))
    assert failed.state == "FAILED"
    metadata = os.path.join(root, "metadata.sqlite")
    store = MetadataStore(connection.parse(metadata))
    return Runs(root, metadata, csv_path, store, blessed.run_id, not_blessed.run_id, compared.run_id, failed.run_id)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    with apt_lock():  # another test process may be installing mariadb-server
        subprocess.run(["sh", os.path.join(HERE, "ensure_chromium.sh")], check=True, timeout=900)
    instance = Browser(str(tmp_path_factory.mktemp("chromium-profile")))
    yield instance
    instance.close()


def screenshot(browser: Browser, name: str) -> str:
    path = browser.screenshot(os.path.join(ARTIFACTS, name))
    print(f"screenshot: {path}")
    return path


def sections_present(browser: Browser) -> dict[str, bool]:
    return {s: bool(browser.evaluate(f"!!document.getElementById('section-{s}')")) for s in SECTIONS}


def svg_count(browser: Browser, section: str) -> int:
    return int(browser.evaluate(f"document.querySelectorAll('#section-{section} svg.marks').length"))


def section_text(browser: Browser, section: str) -> str:
    return str(browser.evaluate(f"document.getElementById('section-{section}').innerText"))


@contextmanager
def ui_server(store: MetadataStore) -> Iterator[str]:
    """``penstock ui``'s server on a free loopback port for the block; its base URL."""
    from penstock.report.server import make_server

    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
