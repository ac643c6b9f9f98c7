"""Benchmark: training steps a new span needs to be blessed, warm-started vs from scratch.

The taxi sample is cut into two spans by time (examples/taxi/make_spans.py). The taxi pipeline
trains on span 1 from scratch (1000 steps, more if that model is not blessed) and is pushed. Then, on span 2,
each mode trains with an increasing number of steps until the Evaluator blesses the model, against
the example's thresholds (accuracy >= 0.6 overall, per payment type and per hour; AUC >= 0.6
overall and no more than 0.01 below the latest blessed model's, i.e. span 1's):

- scratch: the same model (fixed one-hot widths), freshly initialized;
- warm start: the Trainer's ``base_model`` is the latest blessed model (span 1's), loaded with
  ``penstock.load_base_weights``.

Every trial starts from the same state: a copy of the metadata store taken after span 1 and after
span 2's data components ran (so trials share ExampleGen/StatisticsGen/Transform as cache hits),
with its own pipeline root and serving directory. Prints the figures and writes
bench/results/warm_start.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "warm_start.json"
LADDER = [10, 25, 50, 100, 200, 400, 800, 1600, 3200]
# Span 1 trains until blessed: the per-payment-type accuracy bar (0.6 on Credit Card rides, whose
# tips are close to a coin flip) is met by some trainings and missed by others.
SPAN_1_LADDER = [1000, 2000, 4000]


def _pipeline(work: str, trial: str, metadata: str, **kwargs: Any) -> Any:
    from examples.taxi.pipeline import SPAN_CHANGES, create_pipeline

    return create_pipeline(pipeline_root=os.path.join(work, trial, "root"), metadata=metadata,
                           accept_changes=SPAN_CHANGES,
                           serving_dir=os.path.join(work, trial, "serving"), data_root=os.path.join(work, "spans"),
                           input_pattern="span-{SPAN}/taxi.csv", fixed_widths=True, **kwargs)


def _verdict(metadata: str, run_id: str) -> dict[str, Any]:
    from penstock.metadata import connection
    from penstock.metadata.store import MetadataStore
    from penstock.report.model import RunReport

    report = RunReport(MetadataStore(connection.parse(metadata)), run_id)
    blessing = next(b for b in report.blessings() if b["kind"] == "ModelBlessing")
    metrics = {(r["metric"], r["slice"]): r["value"] for e in report.evaluations() for r in e["metrics"]}
    trainer = next(n for n in report.nodes_and_edges()[0] if n["id"] == "Trainer")
    return {"blessed": bool(blessing["blessed"]), "auc": metrics.get(("auc", "Overall")),
            "accuracy": metrics.get(("binary_accuracy", "Overall")), "trainer_seconds": trainer["duration_s"],
            "explanation": (blessing["explanation"] or "").splitlines()[0][:200]}


def main() -> None:
    from examples.taxi.make_spans import make_spans
    from penstock.orchestrators.local.runner import LocalRunner

    started = time.time()
    load = os.getloadavg()
    work = tempfile.mkdtemp(prefix="penstock-warm-start-")
    runner = LocalRunner()
    try:
        make_spans(os.path.join(work, "spans"), 2)
        base_metadata = os.path.join(work, "metadata.sqlite")
        for steps in SPAN_1_LADDER:
            first = runner.run(_pipeline(work, "span1", base_metadata, span=1, train_steps=steps, warm_start=True))
            assert first.succeeded, first.errors
            span_1 = {"steps": steps, **_verdict(base_metadata, first.run_id)}
            print(f"span 1: {steps} steps, blessed: {span_1['blessed']}, AUC {span_1['auc']:.4f}", flush=True)
            if span_1["blessed"]:
                break
        assert span_1["blessed"], f"span 1's model was never blessed: {span_1}"
        # Span 2's data components once, so every trial finds them cached.
        prepared = runner.run(_pipeline(work, "prepare", base_metadata, span=2), to_node="Transform")
        assert prepared.succeeded, prepared.errors

        modes: dict[str, Any] = {}
        for mode in ("scratch", "warm_start"):
            trials = []
            for steps in LADDER:
                trial = f"{mode}-{steps}"
                metadata = os.path.join(work, trial, "metadata.sqlite")
                os.makedirs(os.path.dirname(metadata))
                shutil.copy(base_metadata, metadata)
                result = runner.run(_pipeline(work, trial, metadata, span=2, train_steps=steps,
                                              warm_start=mode == "warm_start"))
                assert result.succeeded, result.errors
                verdict = {"steps": steps, **_verdict(metadata, result.run_id)}
                trials.append(verdict)
                print(f"{mode}: {steps} steps: {'blessed' if verdict['blessed'] else 'not blessed'}, "
                      f"AUC {verdict['auc']:.4f}, accuracy {verdict['accuracy']:.4f}", flush=True)
                if verdict["blessed"]:
                    break
            blessed = [t["steps"] for t in trials if t["blessed"]]
            modes[mode] = {"steps_to_bless": blessed[0] if blessed else None, "trials": trials}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    scratch, warm = modes["scratch"]["steps_to_bless"], modes["warm_start"]["steps_to_bless"]
    result = {
        "ladder": LADDER, "span_1": span_1, **modes,
        "fewer_steps": None if not scratch or not warm else scratch / warm,
        "thresholds": "BinaryAccuracy >= 0.6 overall, per payment_type and per trip_start_hour; AUC >= 0.6 "
                      "overall and at most 0.01 below the latest blessed model's",
        "seconds": round(time.time() - started, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": list(load)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"steps to be blessed on span 2: scratch {scratch}, warm start {warm}; wrote {RESULTS}")


if __name__ == "__main__":
    from penstock import _env

    _env.configure_command_process()
    main()
