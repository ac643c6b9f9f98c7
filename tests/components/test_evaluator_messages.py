"""The Evaluator names the cause of a TFMA failure instead of TFMA's empty ValueError."""

from __future__ import annotations

import pytest

from penstock.components.evaluator.messages import explain, tfma_failures_explained
from penstock.errors import InputDataError


def _tensorflow_missing_feature_error() -> BaseException:
    """The error TensorFlow raises when a transform signature parses rows lacking the label, as
    TFMA wraps it (``ValueError ... from exc``) and Beam re-raises it (with it as context)."""
    import tensorflow as tf

    parse = tf.function(lambda rows: tf.io.parse_example(rows, {"class": tf.io.FixedLenFeature([], tf.string)}))
    row = tf.train.Example(features=tf.train.Features(feature={"age": tf.train.Feature(
        int64_list=tf.train.Int64List(value=[39]))})).SerializeToString()
    try:
        try:
            parse(tf.constant([row]))
        except tf.errors.InvalidArgumentError as exc:
            raise ValueError("Fail to call signature func with signature_name: transform_features.\n"
                             "the inputs are:\n .") from exc
    except ValueError as e:
        tfma_error = e
    else:
        raise AssertionError("TensorFlow parsed a row without its required feature")
    beam_error = RuntimeError(f"{tfma_error} [while running 'Evaluate/ExtractAndEvaluate']")
    beam_error.__context__ = tfma_error
    return beam_error


def test_a_missing_label_in_eval_rows_is_named_with_its_signature():
    error = _tensorflow_missing_feature_error()
    with pytest.raises(InputDataError) as raised, tfma_failures_explained():
        raise error
    message = str(raised.value)
    assert message.startswith("the evaluation examples lack feature 'class' (string), which the model's "
                              "'transform_features' signature requires")
    assert "\n" not in message


def test_other_failures_pass_through_unchanged():
    assert explain(ValueError("something else")) is None
    with pytest.raises(KeyError), tfma_failures_explained():
        raise KeyError("x")
