"""penstock.components.evaluator.fast_confusion: the fast path through TFMA's binary confusion
matrices gives the very matrices TFMA's own code gives, input for input, and leaves every case
it does not know to TFMA (which then fails or succeeds as it would have)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from penstock.components.evaluator import fast_confusion

THRESHOLDS = [0.1, 0.5, 0.7]  # BinaryAccuracy uses [0.5]; AUC-like metrics take the histogram path


def _combiner(**options):
    from tensorflow_model_analysis.metrics import binary_confusion_matrices as bcm

    computations = bcm.binary_confusion_matrices(thresholds=THRESHOLDS, use_histogram=False, **options)
    return next(c.combiner for c in computations if isinstance(getattr(c, "combiner", None),
                                                              bcm._BinaryConfusionMatrixCombiner))


def _inputs(label, prediction, weight=None, features=None):
    from tensorflow_model_analysis.metrics import metric_types

    return metric_types.StandardMetricInputs(labels=label, predictions=prediction, example_weights=weight,
                                             features=features or {})


LABELS = [np.array([1]), np.array([0]), np.array([[1]]), np.array(0), np.array([1.0], dtype=np.float32),
          np.array([0.0]), np.array([-0.0]), np.array([0.3], dtype=np.float32), np.array([2]), np.array([np.nan]),
          np.array([1], dtype=np.uint8), np.array([True]), np.array([b"yes"]), np.array([1, 0])]
PREDICTIONS = [np.array([0.7], dtype=np.float32), np.array([[0.2]], dtype=np.float32), np.array(0.5),
               np.array([np.nan], dtype=np.float32), np.array([0.25, 0.75], dtype=np.float32), np.array([1]),
               {"outputs": np.array([0.9], dtype=np.float32)}]


def _outcome(add_input, combiner, element):
    accumulator = combiner.create_accumulator()
    try:
        return repr(combiner.extract_output(add_input(combiner, accumulator, element)))
    except Exception as e:  # the same failure (class) is expected from both paths
        return f"raises {type(e).__name__}"


@pytest.mark.parametrize("options", [{}, {"fractional_labels": False}, {"model_name": "candidate"},
                                     {"example_weighted": True}, {"example_id_key": "id", "example_ids_count": 3}],
                         ids=["default", "not-fractional", "model-name", "weighted", "example-ids"])
def test_the_fast_path_gives_tfma_s_matrices_for_every_input(options):
    from tensorflow_model_analysis.metrics import binary_confusion_matrices as bcm

    assert fast_confusion.install()
    fast, tfma = bcm._BinaryConfusionMatrixCombiner.add_input, fast_confusion.tfma_add_input
    combiner = _combiner(**options)
    model = options.get("model_name")
    before = dict(fast_confusion.counts)
    for label, prediction in itertools.product(LABELS, PREDICTIONS):
        element = _inputs(label, {model: prediction} if model else prediction,
                          weight=np.array([2.0]) if options.get("example_weighted") else None,
                          features={"id": "example-7"})
        assert _outcome(fast, combiner, element) == _outcome(tfma, combiner, element), (label, prediction)
    # Labels, predictions and their Python types: the simple cases did take the fast path.
    assert fast_confusion.counts["fast"] > before["fast"] or options.get("example_weighted")


def test_the_fast_path_yields_what_tfma_s_extraction_yields():
    from tensorflow_model_analysis.metrics import metric_util

    for label, prediction in itertools.product(LABELS, PREDICTIONS):
        element = _inputs(label, prediction)
        for fractional in (True, False):
            triple = fast_confusion.simple_triple(element, "", fractional)
            if triple is None:
                continue
            (yielded,) = list(metric_util.to_label_prediction_example_weight(
                element, fractional_labels=fractional, flatten=True))
            expected = tuple(metric_util.safe_to_scalar(x) for x in yielded)
            assert repr(triple) == repr(expected) and [type(x) for x in triple] == [type(x) for x in expected]
