"""The InfraValidator's executor: a real server on loopback, real HTTP requests, exact answers.

The candidate is linked into ``<tmp>/serving/<name>/1`` (TF Serving's layout) and served by
penstock's ``ModelServer`` in this process on a free loopback port (REST only). Requests use TF
Serving's columnar ``:predict`` format, ``{"signature_name": ..., "inputs": {"examples":
[{"b64": ...}, ...]}}``, the way a client sends raw tf.Examples. The reference answers come from
``tf.saved_model.load`` of the same directory, called on the same serialized examples.

Any failure (the model does not load, a request errors or times out, an answer differs by more
than ``tolerance``) means "not blessed", with the first problems named in the explanation; a
model that is not blessed is the InfraValidator doing its job, so the component still succeeds.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from penstock import _env
from penstock.errors import InputDataError
from penstock.runtime.context import ExecutorContext
from penstock.storage import blessing as blessing_io
from penstock.storage import examples as examples_io
from penstock.storage import filesystem
from penstock.storage import model as model_io

SERVED_NAME = "candidate"
MAX_PROBLEMS = 5


def run(ctx: ExecutorContext) -> None:
    _env.skip_autograph_for_libraries()
    model = ctx.input("model")
    examples_artifact = ctx.input("examples")
    blessing = ctx.output("blessing")
    params = ctx.parameters
    split = params["example_split"]
    signature = params["signature_name"]
    tolerance = float(params["tolerance"])

    records = read_examples(ctx.component_id, examples_artifact, split, int(params["num_examples"]))
    batch_size = int(params["batch_size"])
    batches = [records[i:i + batch_size] for i in range(0, len(records), batch_size)]

    base_path = os.path.join(ctx.tmp_dir, "serving", SERVED_NAME)
    # A copy, not a symlink: the server (like TF Serving) refuses versions resolving outside the
    # base path; and a local one, so the model loads the same from any store.
    model_path = os.path.join(base_path, "1")
    filesystem.copy_tree(model_io.serving_dir(model), model_path)

    report: dict[str, Any] = {"model_id": model.id, "examples": len(records), "requests": len(batches),
                              "signature_name": signature, "tolerance": tolerance}
    problems: list[str] = []
    started = time.perf_counter()
    try:
        server_answers, load_seconds = serve_and_ask(base_path, signature, batches,
                                                     float(params["load_timeout_seconds"]), problems)
        report["load_seconds"] = round(load_seconds, 3)
        if not problems:
            reference = [call_in_process(model_path, signature, batch) for batch in batches]
            report["max_abs_diff"] = compare(server_answers, reference, batches, tolerance, problems)
    except Exception as e:  # a model that crashes the server is a failed validation, not a crash of ours
        problems.append(f"the server failed: {type(e).__name__}: {e}")
    report["seconds"] = round(time.perf_counter() - started, 3)

    blessed = not problems
    if blessed:
        explanation = (
            f"blessed: loaded in {report['load_seconds']} s; {len(records)} examples in {len(batches)} "
            f"REST :predict requests all answered; largest |server - in-process| (relative beyond 1) = "
            f"{report['max_abs_diff']:.3g} <= {tolerance:g}"
        )
    else:
        shown = problems[:MAX_PROBLEMS]
        more = f"\n- ... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        explanation = "not blessed:\n" + "\n".join(f"- {p}" for p in shown) + more
    report.update(blessed=blessed, problems=problems, explanation=explanation)
    blessing_io.write(blessing, blessed=blessed, model_id=model.id, explanation=explanation, details=report,
                      infra=True, details_file="infra_validation.json")
    (ctx.log.info if blessed else ctx.log.warning)("model %s %s", model.id, explanation)


def read_examples(component_id: str, examples: Any, split: str, limit: int) -> list[bytes]:
    from penstock.codecs.tfrecords import iter_records

    records: list[bytes] = []
    for path in examples_io.split_files(component_id, examples, split, "examples to replay"):
        for record in iter_records(path):
            if len(records) >= limit:
                return records
            records.append(record)
    if not records:
        raise InputDataError(f"{component_id}: split {split!r} of {examples.uri} holds no example to replay")
    return records


def serve_and_ask(
    base_path: str, signature: str, batches: list[list[bytes]], load_timeout: float, problems: list[str]
) -> tuple[list[Any], float]:
    """Start the server, wait for the version to be AVAILABLE, send every batch; answers are
    the decoded ``outputs`` of each response (None where a request failed)."""
    import requests

    from penstock.serving.config import single_model_config
    from penstock.serving.server import ModelServer, ServerOptions

    started = time.perf_counter()
    server = ModelServer(
        [single_model_config(SERVED_NAME, base_path)],
        ServerOptions(rest_port=0, grpc_port=None, batching=None, file_system_poll_wait_seconds=3600.0),
    )
    server.start()
    answers: list[Any] = []
    try:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/{SERVED_NAME}"
        load_seconds = wait_available(url, load_timeout, problems)
        if problems:
            return answers, time.perf_counter() - started
        with requests.Session() as session:
            for index, batch in enumerate(batches):
                body: dict[str, Any] = {"signature_name": signature,
                        "inputs": {"examples": [{"b64": base64.b64encode(r).decode("ascii")} for r in batch]}}
                try:
                    response = session.post(f"{url}:predict", json=body, timeout=60)
                except requests.RequestException as e:
                    problems.append(f"request {index} ({len(batch)} examples) got no answer: {e}")
                    answers.append(None)
                    continue
                if response.status_code != 200:
                    problems.append(f"request {index} ({len(batch)} examples): HTTP {response.status_code}: "
                                    f"{response.text[:300]}")
                    answers.append(None)
                    continue
                answers.append(response.json().get("outputs"))
        return answers, load_seconds
    finally:
        server.stop()


def wait_available(url: str, timeout: float, problems: list[str]) -> float:
    """Seconds until version 1 is AVAILABLE; records why not if it never is. The server loads the
    versions present at start before ``start()`` returns, so a model that is not there after a
    short grace period will not come."""
    import requests

    started = time.perf_counter()
    last = ""
    while time.perf_counter() - started < timeout:
        try:
            response = requests.get(url, timeout=10)
            statuses = response.json().get("model_version_status", []) if response.ok else []
            last = response.text[:300]
        except requests.RequestException as e:
            statuses, last = [], str(e)
        for status in statuses:
            error = (status.get("status") or {}).get("error_message")
            if status.get("state") == "AVAILABLE":
                return time.perf_counter() - started
            if status.get("state") == "END" or error:
                problems.append(f"the model did not load: {error or status}")
                return time.perf_counter() - started
        if not statuses and time.perf_counter() - started > min(timeout, 5.0):
            break
        time.sleep(0.1)
    problems.append(f"the model did not load (not AVAILABLE after {time.perf_counter() - started:.1f} s; "
                    f"server status: {last})")
    return time.perf_counter() - started


def call_in_process(model_path: str, signature: str, batch: list[bytes]) -> dict[str, Any]:
    import tensorflow as tf

    loaded = _load(model_path)
    if signature not in loaded.signatures:
        raise InputDataError(f"the model exports no signature {signature!r} (has: {', '.join(loaded.signatures)})")
    function = loaded.signatures[signature]
    [input_name] = list(function.structured_input_signature[1])
    outputs = function(**{input_name: tf.constant(batch)})
    return {key: value.numpy() for key, value in outputs.items()}


_loaded: dict[str, Any] = {}


def _load(model_path: str) -> Any:
    import tensorflow as tf

    if model_path not in _loaded:
        _loaded.clear()  # one model at a time: validators run one after another
        _loaded[model_path] = tf.saved_model.load(model_path)
    return _loaded[model_path]


def compare(server: list[Any], reference: list[dict[str, Any]], batches: list[list[bytes]], tolerance: float,
            problems: list[str]) -> float:
    """Largest difference, ``|server - in-process| / max(1, |in-process|)``; every output element
    beyond ``tolerance`` becomes a problem."""
    import numpy as np

    worst = 0.0
    offset = 0
    for index, (answer, expected) in enumerate(zip(server, reference)):
        as_dict = answer if isinstance(answer, dict) and len(expected) > 1 else {next(iter(expected)): answer}
        for key, want in expected.items():
            if key not in as_dict:
                problems.append(f"request {index}: the server's answer has no output {key!r}")
                continue
            got = np.asarray(as_dict[key])
            if got.shape != want.shape:
                problems.append(f"request {index}: output {key!r} has shape {got.shape} from the server, "
                                f"{want.shape} in process")
                continue
            if want.dtype.kind in "OSU":
                same = got.astype(str) == np.char.decode(want.astype(bytes), "utf-8", "replace")
                if not same.all():
                    problems.append(f"request {index}: output {key!r} differs (strings)")
                continue
            want64 = want.astype(np.float64)
            # Absolute for values up to 1, relative beyond: float32 logits of size 10 carry ~1e-6 of rounding.
            diff = np.abs(got.astype(np.float64) - want64) / np.maximum(1.0, np.abs(want64))
            worst = max(worst, float(diff.max(initial=0.0)))
            for flat in np.flatnonzero(diff > tolerance)[:MAX_PROBLEMS]:
                position = np.unravel_index(flat, diff.shape)
                problems.append(
                    f"example {offset + int(position[0])} output {key!r}{list(position[1:]) or ''}: server "
                    f"{got[position]:.9g} vs in-process {want[position]:.9g} (|diff| {diff[position]:.3g} > {tolerance:g})"
                )
        offset += len(batches[index])
    return worst
