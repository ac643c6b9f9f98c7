"""Predict, Classify, Regress and MultiInference on a loaded version, with TF Serving's rules:
the one dispatch the REST API, the gRPC API and warmup replay share.

Each API validates the request against the signature (names, as TF Serving's predict_util /
classifier / regressor / multi_inference do), builds a ``Call`` (feeds and fetches by signature
key), hands it to ``run`` and shapes the outputs. ``run`` is the only thing the callers differ
in: a batch queue or a thread pool for requests, a direct call for warmup.

Classify needs a signature with one input ``inputs`` and outputs ``classes`` (DT_STRING) and/or
``scores`` (DT_FLOAT); Regress one input ``inputs`` and one output ``outputs`` (DT_FLOAT), both
fed serialized tf.Examples, whatever the signature's method name (TF Serving's default; with
``--enable_signature_method_name_check`` the method name must match). penstock can also serve
them from a TFX-style predict signature (one DT_STRING input of any name; its ``classes``/
``scores``/``outputs`` or its only float output) when ``lenient_example_signatures`` is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from penstock.serving.errors import RequestError, failed_precondition, invalid
from penstock.serving.servable import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    REGRESS_METHOD,
    Outputs,
    Servable,
    Signature,
)

_FLOAT_TYPES = (1, 2, 19)  # DT_FLOAT, DT_DOUBLE, DT_HALF
DT_FLOAT = 1


@dataclass
class Call:
    """One model run: feeds and fetches by signature key. ``rows`` is the batch size when the
    feeds can be stacked with other calls' along dimension 0 (None: they cannot)."""

    api: str  # "Predict", "Classify", "Regress", "MultiInference": TF Serving's metric label
    sig: Signature
    feeds: dict[str, np.ndarray]
    fetch: tuple[str, ...]
    rows: int | None
    timeout_ms: int = 0

    def execute(self) -> Outputs:
        return self.sig.run(self.feeds, self.fetch, self.timeout_ms)


Run = Callable[[Call], Awaitable[Outputs]]


@dataclass
class Predicted:
    signature_name: str
    outputs: Outputs  # by output key, sorted


@dataclass
class Classified:
    signature_name: str
    classes: np.ndarray | None  # [examples, classes] of bytes
    scores: np.ndarray | None  # [examples, classes] float32

    def rows(self) -> list[list[tuple[bytes, float]]]:
        """Per example, its (label, score) pairs; a missing side is b'' or 0.0, as in TF Serving."""
        source = self.classes if self.classes is not None else self.scores
        assert source is not None
        count, width = source.shape
        labels = self.classes.tolist() if self.classes is not None else [[b""] * width] * count
        scores = self.scores.tolist() if self.scores is not None else [[0.0] * width] * count
        return [list(zip(ls, ss)) for ls, ss in zip(labels, scores)]


@dataclass
class Regressed:
    signature_name: str
    values: np.ndarray  # [examples] float32


def signature_name_or_default(name: str) -> str:
    return name or DEFAULT_SIGNATURE


def batch_rows(feeds: dict[str, np.ndarray]) -> int | None:
    """The common first dimension of the feeds (None when a feed is a scalar or they differ)."""
    rows: int | None = None
    for array in feeds.values():
        if array.ndim == 0 or (rows is not None and array.shape[0] != rows):
            return None
        rows = array.shape[0]
    return rows


# ---- Predict ---------------------------------------------------------------------------------


def predict_signature(servable: Servable, signature_name: str) -> Signature:
    name = signature_name_or_default(signature_name)
    sig = servable.signatures.get(name)
    if sig is None:
        raise failed_precondition(f'Serving signature key "{name}" not found.')
    if servable.options.method_name_check and sig.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD,
                                                                      REGRESS_METHOD):
        raise RequestError("INTERNAL", f"Expected prediction signature method_name to be one of "
                                       f"{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: "
                                       f"{sig.method_name}")
    return sig


def check_predict_inputs(sig: Signature, names: Sequence[str]) -> None:
    """TF Serving's VerifyRequestInputsSize and input-alias checks, with its messages."""
    given, wanted = set(names), set(sig.inputs)
    if given == wanted:
        return
    if len(given) != len(wanted):
        raise invalid(
            f"input size does not match signature: {len(given)}!={len(wanted)} len({{{','.join(sorted(given))}}}) "
            f"!= len({{{','.join(sorted(wanted))}}}). Sent extra: {{{','.join(sorted(given - wanted))}}}. "
            f"Missing but required: {{{','.join(sorted(wanted - given))}}}.")
    unknown = sorted(given - wanted)[0]
    raise invalid(f"input tensor alias not found in signature: {unknown}. Inputs expected to be in the set "
                  f"{{{','.join(sorted(wanted))}}}.")


def _output_keys(sig: Signature, output_filter: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in sig.outputs:
            raise invalid(f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                          f"{{{','.join(sorted(sig.outputs))}}}.")
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return tuple(output_filter) if output_filter else tuple(sig.outputs)


async def predict(servable: Servable, signature_name: str, inputs: dict[str, np.ndarray],
                  output_filter: Sequence[str], run: Run, timeout_ms: int = 0) -> Predicted:
    sig = predict_signature(servable, signature_name)
    check_predict_inputs(sig, list(inputs))
    fetch = _output_keys(sig, output_filter)
    outputs = await run(Call("Predict", sig, inputs, fetch, batch_rows(inputs), timeout_ms))
    return Predicted(sig.name, {k: outputs[k] for k in sorted(outputs)})


# ---- Classify and Regress ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExamplePlan:
    """Which input takes the serialized examples and which outputs hold the answer."""

    input_key: str
    classes_key: str | None = None
    scores_key: str | None = None
    outputs_key: str | None = None

    @property
    def fetch(self) -> tuple[str, ...]:
        return tuple(k for k in (self.classes_key, self.scores_key, self.outputs_key) if k)


def _example_signature(servable: Servable, signature_name: str, method: str, api: str) -> Signature:
    name = signature_name_or_default(signature_name)
    sig = servable.signatures.get(name)
    if sig is None:
        raise invalid(f"No signature was found with the name: {name}")
    if servable.options.method_name_check and sig.method_name != method:
        raise invalid(f"Expected {api} signature method_name to be {method}. Was: {sig.method_name}")
    return sig


def _only_float_output(sig: Signature) -> str | None:
    floats = [k for k, info in sig.outputs.items() if info.dtype in _FLOAT_TYPES]
    return floats[0] if len(floats) == 1 else None


def _lenient_input(servable: Servable, sig: Signature) -> str | None:
    """penstock's opt-in: the one DT_STRING input of a TFX-style predict signature."""
    if not servable.options.lenient_example_signatures or len(sig.inputs) != 1:
        return None
    ((key, info),) = sig.inputs.items()
    return key if info.is_string else None


def classify_plan(servable: Servable, sig: Signature) -> ExamplePlan:
    strict_error: str | None = None
    if len(sig.inputs) != 1:
        strict_error = "Expected one input Tensor."
    elif len(sig.outputs) not in (1, 2):
        strict_error = f"Expected one or two output Tensors, found {len(sig.outputs)}"
    elif "inputs" not in sig.inputs:
        strict_error = f"No classification inputs found in SignatureDef: {sig.name}"
    elif "classes" not in sig.outputs and "scores" not in sig.outputs:
        strict_error = (f'Expected classification signature outputs to contain at least one of "classes" or '
                        f'"scores". Signature was: {sig.name} (outputs: {", ".join(sig.outputs)})')
    if strict_error is None:
        return ExamplePlan("inputs", "classes" if "classes" in sig.outputs else None,
                           "scores" if "scores" in sig.outputs else None)
    input_key = _lenient_input(servable, sig)
    if input_key is not None:
        classes = "classes" if "classes" in sig.outputs and sig.outputs["classes"].is_string else None
        scores = "scores" if "scores" in sig.outputs and sig.outputs["scores"].dtype in _FLOAT_TYPES else None
        if classes is None and scores is None:
            scores = _only_float_output(sig)
        if classes is not None or scores is not None:
            return ExamplePlan(input_key, classes, scores)
    raise invalid(strict_error)


def regress_plan(servable: Servable, sig: Signature) -> ExamplePlan:
    strict_error: str | None = None
    if len(sig.inputs) != 1:
        strict_error = "Expected one input Tensor."
    elif len(sig.outputs) != 1:
        strict_error = "Expected one output Tensor."
    elif "inputs" not in sig.inputs:
        strict_error = f"No regression inputs found in SignatureDef: {sig.name}"
    elif "outputs" not in sig.outputs:
        strict_error = f"No regression outputs found in SignatureDef: {sig.name} (outputs: {', '.join(sig.outputs)})"
    if strict_error is None:
        return ExamplePlan("inputs", outputs_key="outputs")
    input_key = _lenient_input(servable, sig)
    if input_key is not None:
        outputs = "outputs" if "outputs" in sig.outputs else _only_float_output(sig)
        if outputs is not None:
            return ExamplePlan(input_key, outputs_key=outputs)
    raise invalid(strict_error)


def examples_array(serialized: Sequence[bytes]) -> np.ndarray:
    if not serialized:
        raise invalid("Input is empty.")
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


def _shape(array: np.ndarray) -> str:
    return "[" + ",".join(str(d) for d in array.shape) + "]"


def _dtype_name(array: np.ndarray) -> str:
    """TensorFlow's name of an output's type (DT_FLOAT for float32)."""
    if array.dtype == object:
        return "DT_STRING"
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    return str(types_pb2.DataType.Name(tf.dtypes.as_dtype(array.dtype).as_datatype_enum))


def finish_classify(plan: ExamplePlan, signature_name: str, outputs: Outputs, count: int) -> Classified:
    """TF Serving's PostProcessClassificationResult checks, then the (classes, scores) matrices."""
    found: dict[str, np.ndarray] = {}
    for key, want in ((plan.classes_key, "DT_STRING"), (plan.scores_key, "DT_FLOAT")):
        if key is None:
            continue
        array = outputs[key]
        name = "classes" if want == "DT_STRING" else "scores"
        if array.ndim != 2:
            raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got {_shape(array)}")
        if _dtype_name(array) != want:
            raise invalid(f"Expected {name} Tensor of {want}. Got: {_dtype_name(array)}")
        if array.shape[0] != count:
            raise invalid(f"Expected {name} output batch size of {count}. Got: {array.shape[0]}")
        found[name] = array
    if len(found) == 2 and found["classes"].shape[1] != found["scores"].shape[1]:
        raise invalid(f"Tensors class and score should match in dim_size(1). Got {found['classes'].shape[1]} vs. "
                      f"{found['scores'].shape[1]}")
    return Classified(signature_name, found.get("classes"), found.get("scores"))


def finish_regress(plan: ExamplePlan, signature_name: str, outputs: Outputs, count: int) -> Regressed:
    """TF Serving's PostProcessRegressionResult checks."""
    array = outputs[plan.outputs_key or ""]
    if not (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
        raise invalid(f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                      f"{_shape(array)}")
    if array.shape[0] != count:
        raise invalid(f"Input batch size did not match output batch size: {count} vs. {array.shape[0]}")
    if array.dtype != np.float32:
        raise invalid(f"Expected output Tensor of DT_FLOAT.  Got: {_dtype_name(array)}")
    return Regressed(signature_name, array.reshape(-1))


# api -> (method name, what the messages call it, plan, finish)
_EXAMPLE_APIS: dict[str, tuple[str, str, Callable[..., ExamplePlan], Callable[..., Any]]] = {
    "Classify": (CLASSIFY_METHOD, "classification", classify_plan, finish_classify),
    "Regress": (REGRESS_METHOD, "regression", regress_plan, finish_regress),
}


async def _on_examples(api: str, servable: Servable, signature_name: str, serialized: Sequence[bytes], run: Run,
                       timeout_ms: int) -> Any:
    method, noun, plan_for, finish = _EXAMPLE_APIS[api]
    sig = _example_signature(servable, signature_name, method, noun)
    plan = plan_for(servable, sig)
    examples = examples_array(serialized)
    outputs = await run(Call(api, sig, {plan.input_key: examples}, plan.fetch, len(examples), timeout_ms))
    return finish(plan, sig.name, outputs, len(examples))


async def classify(servable: Servable, signature_name: str, serialized: Sequence[bytes], run: Run,
                   timeout_ms: int = 0) -> Classified:
    result: Classified = await _on_examples("Classify", servable, signature_name, serialized, run, timeout_ms)
    return result


async def regress(servable: Servable, signature_name: str, serialized: Sequence[bytes], run: Run,
                  timeout_ms: int = 0) -> Regressed:
    result: Regressed = await _on_examples("Regress", servable, signature_name, serialized, run, timeout_ms)
    return result


# ---- MultiInference ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    model_name: str
    signature_name: str
    method_name: str


async def multi_inference(servable: Servable, tasks: Sequence[Task], serialized: Sequence[bytes],
                          run: Run) -> list[Classified | Regressed]:
    """Several classify/regress signatures over the same examples in one run (TF Serving's rules:
    one model, no signature twice, only classify and regress methods)."""
    if not tasks:
        raise invalid("MultiInferenceRequest has no tasks")
    plans: list[tuple[Task, Signature, ExamplePlan]] = []
    seen: set[str] = set()
    for task in tasks:
        if not task.model_name:
            raise invalid("Found ModelSpec with an empty model name.")
        if task.model_name != tasks[0].model_name:
            raise invalid("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        name = signature_name_or_default(task.signature_name)
        if name in seen:
            raise invalid(f"Duplicate evaluation of signature: {name}")
        seen.add(name)
        sig = servable.signatures.get(name)
        if sig is None:
            raise invalid(f"Requested signature not found in model graph: {name}")
        if task.method_name == CLASSIFY_METHOD:
            plans.append((task, sig, classify_plan(servable, sig)))
        elif task.method_name == REGRESS_METHOD:
            plans.append((task, sig, regress_plan(servable, sig)))
        else:
            raise RequestError("UNIMPLEMENTED", f"Unsupported signature method_name: {task.method_name}")
    first_sig = plans[0][1]
    inputs = {(sig.inputs[plan.input_key].name) for _, sig, plan in plans}
    if len(inputs) != 1:
        raise RequestError("UNIMPLEMENTED", "the tasks' signatures read their examples from different tensors; "
                                            "penstock runs MultiInference only over one shared input tensor")
    # one run fetching every task's outputs: they are keyed by tensor name across signatures
    by_tensor: dict[str, tuple[Signature, str]] = {}
    for _, sig, plan in plans:
        for key in plan.fetch:
            by_tensor.setdefault(sig.outputs[key].name, (sig, key))
    examples = examples_array(serialized)
    input_key = plans[0][2].input_key
    combined = servable.combined_signature(
        first_sig.name, {input_key: first_sig.inputs[input_key]},
        {tensor: sig.outputs[key] for tensor, (sig, key) in by_tensor.items()})
    outputs = await run(Call("MultiInference", combined, {input_key: examples}, tuple(by_tensor), None))
    results: list[Classified | Regressed] = []
    for task, sig, plan in plans:
        mine = {key: outputs[sig.outputs[key].name] for key in plan.fetch}
        if task.method_name == CLASSIFY_METHOD:
            results.append(finish_classify(plan, sig.name, mine, len(examples)))
        else:
            results.append(finish_regress(plan, sig.name, mine, len(examples)))
    return results
