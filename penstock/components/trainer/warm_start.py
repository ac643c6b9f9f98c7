"""Warm start: begin training from a base model's weights (``fn_args.base_model``).

Wire the latest blessed model into the Trainer's optional ``base_model`` input (TFX's name)::

    latest = Resolver(LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing))
    Trainer(..., base_model=latest.outputs["model"])

and in ``run_fn``, after building (and compiling) the model::

    if fn_args.base_model:
        penstock.load_base_weights(model, fn_args.base_model)

``fn_args.base_model`` is the base model's serving SavedModel (``<uri>/Format-Serving``), whose
``variables/`` checkpoint holds the Keras model it was exported from (``model.save`` makes the
model the checkpoint's root). The weights are read into a clone of the user's model and copied
over with ``set_weights``: a checkpoint read straight into the live model would leave deferred
restorations behind, which would later pour the base model's transform layer and optimizer
slots into the new model's (a new transform graph must not get an old one's state). Only the
layers' weights move; the optimizer starts fresh. Every weight of the model must be found in the
base model with the same shape, else :class:`WarmStartError` says which ones differ.
"""

from __future__ import annotations

import os
from typing import Any

from penstock.errors import UserCodeError

VARIABLES = os.path.join("variables", "variables")


class WarmStartError(UserCodeError):
    """The base model's weights do not fit the model being trained."""


def _keras_for(model: Any) -> Any:
    """The Keras package the model belongs to (tf_keras under TF_USE_LEGACY_KERAS, else keras)."""
    if type(model).__module__.startswith("tf_keras") or any(
            c.__module__.startswith("tf_keras") for c in type(model).__mro__):
        import tf_keras

        return tf_keras
    import keras

    return keras


def load_base_weights(model: Any, base_model: str) -> Any:
    """Load the weights of the SavedModel at ``base_model`` into the Keras ``model``; returns it.

    Raises :class:`WarmStartError` when ``base_model`` holds no checkpoint, or when the model's
    layers do not match the base model's (changed layer sizes, added or removed layers): warm
    start needs the same architecture; train from scratch otherwise.
    """
    import tensorflow as tf

    prefix = os.path.join(base_model, VARIABLES)
    if not tf.io.gfile.exists(prefix + ".index"):
        raise WarmStartError(f"warm start: {base_model} holds no variables checkpoint ({prefix}.index); "
                             "fn_args.base_model must be a SavedModel exported by a Trainer")
    keras = _keras_for(model)
    try:
        shadow = keras.models.clone_model(model)
    except (ValueError, TypeError):  # a subclassed model cannot be cloned: read into the model itself
        shadow = None
    target = shadow if shadow is not None else model
    try:
        status = tf.train.Checkpoint(target).read(prefix)
        # The transform layer, the optimizer and the signatures stay behind, on purpose: no
        # warning about them (the check below still requires every weight of the model).
        status.expect_partial()
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise WarmStartError(
            f"warm start: the model being trained does not match the base model {base_model}: {_first_line(e)}. "
            "Warm start needs the same layers with the same shapes (same hyperparameters such as layer "
            "sizes); train from scratch by not wiring base_model") from None
    except ValueError as e:  # shapes differ
        raise WarmStartError(f"warm start: a weight of the base model {base_model} does not fit: "
                             f"{_first_line(e)}; warm start needs the same architecture") from None
    if shadow is not None:
        model.set_weights(shadow.get_weights())
    return model


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:400] if text else type(error).__name__
