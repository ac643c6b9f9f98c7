"""``penstock report``: the data gathered from real runs, and the HTML rendered in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from penstock.cli import cli
from penstock.dsl.standard_artifacts import ExampleAnomalies, ExampleStatistics
from penstock.report.data_views import read_anomalies, read_statistics
from penstock.report.model import gather_run
from penstock.report.render import render_report
from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.report.conftest import screenshot, section_text, sections_present, svg_count


def _by_id(nodes):
    return {n["id"]: n for n in nodes}


def test_gathers_dag_stats_anomalies_evaluation_blessing_push_and_lineage(runs):
    data = gather_run(runs.store, runs.blessed)
    nodes = _by_id(data["nodes"])
    assert {n["state"] for n in nodes.values()} == {"COMPLETE"}
    edges = {(e["source"], e["target"]) for e in data["edges"]}
    assert edges == {
        ("ingest", "statistics"), ("ingest", "train"), ("ingest", "evaluate"), ("statistics", "schema_gen"),
        ("statistics", "validate"), ("schema_gen", "validate"), ("train", "evaluate"), ("train", "push"),
        ("evaluate", "push"),
    }
    assert {b["component"] for b in data["timeline"]} == set(nodes)

    [stats] = data["statistics"]
    assert stats["splits"] == ["train", "eval"] and stats["num_examples"] == {"train": 60, "eval": 30}
    features = {f["name"]: f for f in stats["features"]}
    assert features["bill_length_mm"]["kind"] == "numeric" and features["bill_length_mm"]["splits"]["train"]["histogram"]
    assert features["bill_length_mm"]["splits"]["eval"]["missing_pct"] > 0
    eval_islands = {t["value"] for t in features["island"]["splits"]["eval"]["top_values"]}
    assert "Atlantis" in eval_islands
    assert "Atlantis" not in {t["value"] for t in features["island"]["splits"]["train"]["top_values"]}

    [anomalies] = data["anomalies"]
    assert [(r["split"], r["feature"], r["severity"]) for r in anomalies["rows"]] == [("eval", "island", "ERROR")]
    assert anomalies["summary"] == {"anomalies_per_split": {"train": 0, "eval": 1}}

    [evaluation] = data["evaluations"]
    accuracy = [r for r in evaluation["metrics"] if r["metric"] == "binary_accuracy"]
    assert {r["slice"] for r in accuracy} >= {"Overall", "island:Atlantis", "island:Biscoe"}
    assert all(r["lower"] == 0.7 and r["upper"] is None and r["passed"] for r in accuracy)
    assert evaluation["validation"]["ok"] is True

    [blessing] = data["blessings"]
    assert blessing["blessed"] is True and "binary_accuracy >= 0.7" in blessing["explanation"]
    [push] = data["pushes"]
    assert push["pushed"] is True and push["pushed_version"] == 1
    assert push["destination"] == os.path.join(runs.root, "serving", "1")

    lineage = data["lineage"]
    assert lineage["root"]["type"] == "PushedModel"
    kinds = {n["label"] for n in lineage["nodes"]}
    assert {"ingest", "train", "evaluate", "push"} <= kinds
    [source] = [s for s in lineage["sources"] if s["artifact"]["type"] == "Examples"]
    assert runs.csv_path in source["source_properties"]["input_files"]


def test_report_of_the_blessed_run_renders_every_section_offline(runs, browser, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", runs.blessed, "-o", str(out), "--metadata", runs.metadata])
    assert result.exit_code == 0, result.output
    assert f"run {runs.blessed}, COMPLETE" in result.output
    html = out.read_text()
    assert "<script src=" not in html and "<link rel=\"stylesheet\"" not in html  # everything inline

    page = browser.load(out.as_uri())
    assert page.state == "ok" and page.errors == [], page.errors
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    assert all(sections_present(browser).values()), sections_present(browser)
    assert svg_count(browser, "dag") == 1 and svg_count(browser, "timeline") == 1
    assert svg_count(browser, "statistics") == 5  # one chart per feature, train and eval overlaid
    assert svg_count(browser, "evaluation") == 3  # auc, binary_accuracy, example_count
    assert svg_count(browser, "lineage") == 1
    # The DAG colours the seven components by state: all COMPLETE here.
    dag_labels = browser.evaluate("Array.from(document.querySelectorAll('#section-dag svg text')).map(t => t.textContent)")
    assert {"ingest", "statistics", "schema_gen", "validate", "train", "evaluate", "push"} <= set(dag_labels)
    assert "Unexpected string values" in section_text(browser, "anomalies")
    assert "validation passed" in section_text(browser, "evaluation")
    assert "BLESSED" in section_text(browser, "blessing")
    assert "pushed version 1" in section_text(browser, "pushed")
    assert runs.csv_path in section_text(browser, "lineage")
    screenshot(browser, "report-blessed.png")


def test_report_of_a_not_blessed_run_shows_the_failed_threshold(runs, browser, tmp_path):
    data = gather_run(runs.store, runs.not_blessed)
    assert _by_id(data["nodes"])["statistics"]["state"] == "CACHED"
    [evaluation] = data["evaluations"]
    accuracy = [r for r in evaluation["metrics"] if r["metric"] == "binary_accuracy"]
    assert all(r["lower"] == 0.99 for r in accuracy) and not all(r["passed"] for r in accuracy)
    assert evaluation["validation"]["ok"] is False and evaluation["validation"]["failures"]
    [blessing] = data["blessings"]
    assert blessing["blessed"] is False and "binary_accuracy" in blessing["explanation"]
    [push] = data["pushes"]
    assert push["pushed"] is False and push["reason"] == "the model was not blessed"

    out = tmp_path / "not-blessed.html"
    out.write_text(render_report(data))
    page = browser.load(out.as_uri())
    assert page.state == "ok" and page.errors == [], page.errors
    assert "NOT BLESSED" in section_text(browser, "blessing")
    assert "not pushed" in section_text(browser, "pushed")
    assert "validation failed" in section_text(browser, "evaluation")
    failed_bars = browser.evaluate(
        "document.querySelectorAll('#section-evaluation path[fill=\"#c62828\"]').length")
    assert failed_bars >= 1  # bars below the threshold are drawn red
    screenshot(browser, "report-not-blessed.png")


def test_report_of_a_failed_run_says_what_is_missing(runs, browser, tmp_path):
    out = tmp_path / "failed.html"
    # The real command line, in its own process; the latest run is the failed one.
    proc = subprocess.run([*PENSTOCK, "report", "-o", str(out), "--metadata", runs.metadata],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"run {runs.failed}, FAILED" in proc.stdout

    page = browser.load(out.as_uri())
    assert page.state == "ok" and page.errors == [], page.errors
    assert all(sections_present(browser).values())
    states = {row: browser.evaluate(
        f"document.querySelector('#section-dag tr[data-node=\"{row}\"] .state').textContent") for row in
        ("ingest", "train", "evaluate", "push")}
    assert states == {"ingest": "CACHED", "train": "FAILED", "evaluate": "SKIPPED", "push": "SKIPPED"}
    assert "training diverged: loss is NaN" in section_text(browser, "summary")
    assert svg_count(browser, "statistics") == 5  # cached statistics still belong to the run
    assert "no evaluation in this run" in section_text(browser, "evaluation")
    assert "no blessing in this run" in section_text(browser, "blessing")
    assert "nothing pushed in this run" in section_text(browser, "pushed")
    assert "no lineage" in section_text(browser, "lineage")
    screenshot(browser, "report-failed.png")


def test_report_cli_names_an_unknown_run(runs, tmp_path):
    proc = subprocess.run([*PENSTOCK, "report", "no-such-run", "--metadata", runs.metadata],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "no run 'no-such-run'" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_artifact_files_become_messages(tmp_path):
    stats = ExampleStatistics(uri=str(tmp_path / "stats"))
    stats.split_names = ["train", "eval"]
    os.makedirs(stats.split_uri("train"))
    (tmp_path / "stats" / "Split-train" / "FeatureStats.pb").write_bytes(b"\xff\xfe not a proto")
    view = read_statistics(stats)
    assert view["features"] == [] and len(view["errors"]) == 2
    assert "Split-train/FeatureStats.pb: cannot read statistics" in view["errors"][0]
    assert "Split-eval/FeatureStats.pb: cannot read statistics (FileNotFoundError" in view["errors"][1]

    anomalies = ExampleAnomalies(uri=str(tmp_path / "missing"))
    assert read_anomalies(anomalies) == {"splits": [], "rows": [], "summary": None, "errors": []}


def test_report_of_a_second_model_with_a_change_threshold_shows_every_slice(runs, browser, tmp_path):
    """From the second model on, the Evaluator compares with a blessed baseline under a change
    threshold: the report keeps its metrics, charts and slices, with the Evaluator's verdict."""
    data = gather_run(runs.store, runs.compared)
    [evaluation] = data["evaluations"]
    assert evaluation["errors"] == [] and evaluation["validation"]["ok"] is True
    rows = {(r["metric"], r["slice"]): r for r in evaluation["metrics"]}
    slices = {s for _, s in rows}
    assert slices >= {"Overall", "island:Atlantis", "island:Biscoe", "island:Dream", "island:Torgersen"}
    for name in slices:
        change = rows[("auc change vs baseline", name)]
        assert change["lower"] == -1e-10 and change["upper"] is None and change["passed"]
        assert rows[("auc", name)]["lower"] == 0.5 and rows[("auc [baseline]", name)]["has_threshold"] is False
    [blessing] = data["blessings"]
    assert blessing["blessed"] is True

    out = tmp_path / "compared.html"
    out.write_text(render_report(data))
    page = browser.load(out.as_uri())
    assert page.state == "ok" and page.errors == [], page.errors
    text = section_text(browser, "evaluation")
    assert "validation passed" in text and "cannot read" not in text
    metrics = {m for m, _ in rows}
    assert svg_count(browser, "evaluation") == len(metrics)  # one chart per metric, none lost
    labels = browser.evaluate("Array.from(document.querySelectorAll('#section-evaluation svg text')).map(t => t.textContent)")
    assert slices <= set(labels)
    screenshot(browser, "report-compared.png")


def test_two_metrics_with_one_name_are_told_apart_with_a_warning():
    from penstock.report.evaluation import _disambiguate

    rows = [{"slice": "Overall", "metric": "auc", "value": 0.9}, {"slice": "Overall", "metric": "auc", "value": 0.95},
            {"slice": "sex:Male", "metric": "auc", "value": 0.8}]
    [warning] = _disambiguate(rows)
    assert [r["metric"] for r in rows] == ["auc", "auc #2", "auc"]
    assert "two metrics are named 'auc'" in warning and "config='{\"name\": \"auc_tfma\"}'" in warning


def test_report_command_imports_no_tensorflow(runs, tmp_path):
    """A report reads TFMA's files without TFMA: no TensorFlow import to wait for, and none of
    its CUDA or FutureWarning noise."""
    probe = ("import sys\nfrom penstock.cli import _run\n"
             f"code = _run(['report', {runs.compared!r}, '-o', {str(tmp_path / 'r.html')!r}, '--metadata', {runs.metadata!r}])\n"
             "print('CODE', code, 'TF', 'tensorflow' in sys.modules, 'TFMA', 'tensorflow_model_analysis' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
                          capture_output=True, text=True, timeout=300)
    assert "CODE 0 TF False TFMA False" in proc.stdout, proc.stdout + proc.stderr
    assert "Unable to register" not in proc.stderr and "FutureWarning" not in proc.stderr, proc.stderr
    assert "auc change vs baseline" in (tmp_path / "r.html").read_text()


def test_metrics_command_prints_slices_thresholds_and_the_verdict(runs):
    result = CliRunner().invoke(cli, ["metrics", runs.not_blessed, "--metadata", runs.metadata], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    accuracy = [line for line in lines if "binary_accuracy" in line and ">= 0.99" in line]
    assert {s for s in ("Overall", "island:Atlantis", "island:Biscoe") if any(s in line for line in accuracy)} == {
        "Overall", "island:Atlantis", "island:Biscoe"}
    assert any("FAILED" in line for line in accuracy) and "validation failed" in result.output
    assert "evaluate: NOT BLESSED" in result.output
    assert not any(line.startswith("│ example_count") for line in lines)  # no threshold: only with --all-metrics
    every = CliRunner().invoke(cli, ["metrics", runs.not_blessed, "--all-metrics", "--metadata", runs.metadata],
                               env={"COLUMNS": "200"})
    assert "example_count" in every.output


def test_the_runs_leave_tfma_as_they_found_it(runs):
    """The compared run patches TFMA for its own analyze_raw_data call only: a leftover patch gave
    every later Evaluator in this process a baseline spec and one model (TFMA then failed with
    'loaded model for "candidate" not found')."""
    from tensorflow_model_analysis.api import model_eval_lib

    assert model_eval_lib._update_eval_config_with_defaults.__module__ == model_eval_lib.__name__
