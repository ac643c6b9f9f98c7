"""A fast path through TFMA's binary confusion matrices for the common one-label, one-score case.

Why: profiling the Evaluator on 100k taxi rows (BinaryAccuracy, three slicing specs) put a
quarter of its time in ``_BinaryConfusionMatrixCombiner.add_input``, nearly all of it in
``metric_util.to_label_prediction_example_weight``: a general routine (dict lookups by model,
output, label and prediction keys, sparse labels, class weights, top-k, flattening, fractional
labels) run per example and per slice, which for a binary classifier with a scalar label in
{0, 1} and a scalar score ends up yielding ``(label, score, 1.0)``. This module computes that
triple directly when, and only when, the inputs are that simple case, and hands it to the same
``BinaryConfusionMatrices.add_input`` TFMA calls; anything else (example weights, class weights,
sub keys, multi-output models, fractional or out-of-range labels, dict predictions other than
by model name, a custom extraction function) goes through TFMA's own code unchanged. The values
and their Python types are the ones TFMA's routine produces (tests check both paths against
each other), so the matrices and every metric computed from them are identical.

Installed by the Evaluator before it builds TFMA's pipeline (once per process); only on the TFMA
release it was written against, where the private names it relies on are known to exist.
``PENSTOCK_TFMA_FAST_PATH=0`` leaves TFMA untouched (the benchmark's and the tests' baseline).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

SUPPORTED_TFMA = "0.47."
_lock = threading.Lock()
_installed = False
# Examples that took the fast path and those TFMA's own code handled (for tests and logs).
counts = {"fast": 0, "tfma": 0}
# TFMA's own add_input, once installed (what every case other than the simple one runs).
tfma_add_input: Any = None


def enabled() -> bool:
    return os.environ.get("PENSTOCK_TFMA_FAST_PATH", "1").strip() != "0"


def uninstall() -> None:
    """Give TFMA its own ``add_input`` back (for comparisons in one process)."""
    global _installed
    with _lock:
        if _installed:
            from tensorflow_model_analysis.metrics import binary_confusion_matrices as bcm

            bcm._BinaryConfusionMatrixCombiner.add_input = tfma_add_input
            _installed = False


def install() -> bool:
    """Patch TFMA's combiner (idempotent). False when this TFMA release is not the one supported."""
    global _installed, tfma_add_input
    with _lock:
        if _installed:
            return True
        import tensorflow_model_analysis as tfma
        from tensorflow_model_analysis.metrics import binary_confusion_matrices as bcm
        from tensorflow_model_analysis.metrics import metric_util

        combiner = getattr(bcm, "_BinaryConfusionMatrixCombiner", None)
        if not tfma.__version__.startswith(SUPPORTED_TFMA) or combiner is None:
            return False
        if tfma_add_input is None:
            tfma_add_input = combiner.add_input
        original = tfma_add_input
        default_extraction = metric_util.to_label_prediction_example_weight

        def add_input(self: Any, accumulator: Any, element: Any) -> Any:
            triple = None
            if self._extract_label_prediction_and_weight is default_extraction and _simple_combiner(self):
                triple = simple_triple(element, self._key.model_name, self._enable_fractional_labels)
            if triple is None:
                counts["tfma"] += 1
                return original(self, accumulator, element)
            counts["fast"] += 1
            example_id = None
            if self._example_id_key and self._example_id_key in element.features:
                example_id = element.features[self._example_id_key]
            label, prediction, weight = triple
            return self._binary_confusion_matrices.add_input(
                accumulator=accumulator, labels=[label], predictions=[prediction], example_weights=[weight],
                example_id=example_id,
            )

        combiner.add_input = add_input
        _installed = True
        return True


def _simple_combiner(combiner: Any) -> bool:
    key = combiner._key
    return (key.sub_key is None and not key.output_name and combiner._aggregation_type is None
            and not combiner._class_weights and not combiner._example_weighted)


def simple_triple(element: Any, model_name: str, fractional_labels: bool) -> tuple[Any, float, float] | None:
    """``(label, prediction, example weight)`` as TFMA's ``to_label_prediction_example_weight``
    followed by ``safe_to_scalar`` yields them for an unweighted example with one numeric label
    and one float score (None: not that case, let TFMA decide). With fractional labels (TFMA's
    default) only labels exactly 0 or 1 qualify: TFMA yields one tuple for them, labelled by a
    new array of the label's dtype, and weight ``1.0 * label`` or ``1.0 * (1 - label)`` = 1.0."""
    import numpy as np

    label, prediction = element.label, element.prediction
    if model_name:
        if not isinstance(prediction, Mapping) or model_name not in prediction:
            return None
        prediction = prediction[model_name]
    if type(label) is not np.ndarray or type(prediction) is not np.ndarray:
        return None
    if label.size != 1 or prediction.size != 1 or label.dtype.kind not in "iuf" or prediction.dtype.kind != "f":
        return None
    value = label.reshape(-1)[0]
    score = prediction.reshape(-1)[0].item()
    if not fractional_labels:
        return value.item(), score, 1.0
    if value == 1:
        return np.array([1], dtype=label.dtype).item(), score, 1.0
    if value == 0:
        return np.array([0], dtype=label.dtype).item(), score, 1.0
    return None
