"""Classify and Regress on tf.Example signatures, with TF Serving's rules.

TF Serving accepts for Classify a signature of method ``tensorflow/serving/classify`` with one
DT_STRING input ``inputs`` and outputs ``classes`` and/or ``scores``; for Regress method
``tensorflow/serving/regress`` with output ``outputs``. A TF2/TFX export only writes predict
signatures, so penstock also accepts a predict signature taking one DT_STRING input (serialized
tf.Example): it uses its ``classes``/``scores`` (or ``outputs``) outputs, else its only float output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from penstock.serving.errors import RequestError, invalid
from penstock.serving.servable import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD, Signature

_FLOATS = (1, 2, 19)  # DT_FLOAT, DT_DOUBLE, DT_HALF


@dataclass(frozen=True)
class ExamplePlan:
    """How to feed serialized examples to a signature and which outputs hold the answer."""

    input_key: str
    classes_key: str | None = None
    scores_key: str | None = None
    outputs_key: str | None = None

    def inputs(self, serialized: list[bytes]) -> dict[str, np.ndarray]:
        array = np.empty(len(serialized), dtype=object)
        array[:] = serialized
        return {self.input_key: array}


def _unsuitable(sig: Signature, api: str, expected: str) -> RequestError:
    return RequestError(
        "INVALID_ARGUMENT",
        f"signature '{sig.name}' (method {sig.method_name}) cannot serve {api}: {expected}",
    )


def _example_input(sig: Signature, api: str, method: str) -> str:
    if sig.method_name == method:
        if list(sig.inputs) != ["inputs"] or not sig.inputs["inputs"].is_string:
            raise _unsuitable(sig, api, "a classify/regress signature must have one DT_STRING input 'inputs'")
        return "inputs"
    if sig.method_name != PREDICT_METHOD:
        raise _unsuitable(sig, api, f"expected method {method}")
    strings = [k for k, info in sig.inputs.items() if info.is_string]
    if len(sig.inputs) != 1 or len(strings) != 1:
        raise _unsuitable(sig, api, f"expected method {method}, or a predict signature with one DT_STRING input "
                          f"(serialized tf.Example); it takes: {sig.describe_inputs()}")
    return strings[0]


def _only_float_output(sig: Signature) -> str | None:
    floats = [k for k, info in sig.outputs.items() if info.dtype in _FLOATS]
    return floats[0] if len(floats) == 1 else None


def classify_signature(sig: Signature) -> ExamplePlan:
    input_key = _example_input(sig, "Classify", CLASSIFY_METHOD)
    classes = "classes" if "classes" in sig.outputs and sig.outputs["classes"].is_string else None
    scores = "scores" if "scores" in sig.outputs and sig.outputs["scores"].dtype in _FLOATS else None
    if sig.method_name == PREDICT_METHOD and classes is None and scores is None:
        scores = _only_float_output(sig)
    if classes is None and scores is None:
        raise _unsuitable(sig, "Classify", "it has neither a DT_STRING 'classes' nor a float 'scores' output")
    return ExamplePlan(input_key, classes_key=classes, scores_key=scores)


def regress_signature(sig: Signature) -> ExamplePlan:
    input_key = _example_input(sig, "Regress", REGRESS_METHOD)
    outputs = "outputs" if "outputs" in sig.outputs and sig.outputs["outputs"].dtype in _FLOATS else None
    if outputs is None and sig.method_name == PREDICT_METHOD:
        outputs = _only_float_output(sig)
    if outputs is None:
        raise _unsuitable(sig, "Regress", "it has no float 'outputs' output")
    return ExamplePlan(input_key, outputs_key=outputs)


def classifications(plan: ExamplePlan, outputs: dict[str, np.ndarray], batch: int) -> list[list[tuple[str, float]]]:
    """Per example, its (label, score) pairs; a missing side is '' or 0.0, as in TF Serving."""
    classes = scores = None
    if plan.classes_key is not None:
        classes = _per_example(outputs[plan.classes_key], batch, plan.classes_key)
    if plan.scores_key is not None:
        scores = _per_example(outputs[plan.scores_key], batch, plan.scores_key)
    if classes is not None and scores is not None and classes.shape != scores.shape:
        raise RequestError("FAILED_PRECONDITION",
                           f"model outputs 'classes' {classes.shape} and 'scores' {scores.shape} differ in shape")
    result = []
    for i in range(batch):
        n = (classes if classes is not None else scores).shape[1]  # type: ignore[union-attr]
        labels = [_label(b) for b in classes[i]] if classes is not None else [""] * n
        values = [float(s) for s in scores[i]] if scores is not None else [0.0] * n
        result.append(list(zip(labels, values)))
    return result


def regressions(plan: ExamplePlan, outputs: dict[str, np.ndarray], batch: int) -> list[float]:
    values = outputs[plan.outputs_key]  # type: ignore[index]
    if values.size != batch:
        raise RequestError("FAILED_PRECONDITION",
                           f"regression output '{plan.outputs_key}' has shape {list(values.shape)}; "
                           f"expected one value per example ({batch})")
    return [float(v) for v in values.reshape(-1)]


def _per_example(array: np.ndarray, batch: int, key: str) -> np.ndarray:
    if array.ndim == 0 or array.shape[0] != batch:
        raise RequestError("FAILED_PRECONDITION",
                           f"model output '{key}' has shape {list(array.shape)}; expected [{batch}, num_classes]")
    return array.reshape(batch, -1)


def _label(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def serialized_examples_from_input(input_proto: Any) -> list[bytes]:
    """Serialized tf.Examples from a tensorflow.serving.Input (context merged as TF Serving does:
    serialized context followed by the example parses as their merge)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        serialized = [context + e.SerializeToString() for e in with_context.examples]
    else:
        raise invalid("Input is empty: set input.example_list or input.example_list_with_context")
    if not serialized:
        raise invalid("Input has no examples")
    return serialized
