"""Warm start: the Trainer's ``base_model`` input reaches ``run_fn`` as ``fn_args.base_model``, and
``penstock.load_base_weights`` really loads the base model's weights: the first training step's
loss is the base model's loss on that batch, not a fresh initialization's."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from penstock import testing
from penstock.components.trainer import Trainer
from penstock.components.trainer.warm_start import WarmStartError
from penstock.dsl.channel import Channel
from penstock.dsl.standard_artifacts import Examples, Model, Schema
from tests.components import _model_fixtures

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, "_warm_start_module.py")
# 64 rows: class 1 exactly when x > 0.3, in file order (the first batch is rows 0-7)
ROWS = [(float(x), int(x > 0.3), "a") for x in np.linspace(-2.0, 2.0, 64)[np.random.default_rng(0).permutation(64)]]


def _trainer(root: str, examples, schema, base=None, hidden_units: int = 4, steps: int = 60):
    inputs = {"examples": [examples], "schema": [schema]}
    channels = {"examples": Channel(Examples), "schema": Channel(Schema)}
    if base is not None:
        inputs["base_model"] = [base]
        channels["base_model"] = Channel(Model)
    trainer = Trainer(module_file=MODULE, train_args={"num_steps": steps}, eval_args={"num_steps": 1},
                      hyperparameters={"hidden_units": hidden_units}, **channels)
    outputs = testing.run_executor(trainer, inputs=inputs, pipeline_root=root)
    with open(os.path.join(outputs["model_run"].uri, "first_loss.json")) as f:
        return outputs["model"], json.load(f)["first_loss"]


def _loss_of_saved_model(serving_dir: str, rows) -> float:
    """Binary cross-entropy of the exported model on ``rows``, computed outside Keras's training loop."""
    import tensorflow as tf

    loaded = tf.saved_model.load(serving_dir)
    x = tf.constant([[r[0]] for r in rows], tf.float32)
    (p,) = loaded.signatures["serving_default"](x=x).values()
    p = np.clip(p.numpy().reshape(-1), 1e-7, 1 - 1e-7)
    y = np.array([r[1] for r in rows], dtype=np.float64)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("warm-start"))
    examples = Examples(_model_fixtures.write_examples(os.path.join(root, "examples"), ROWS, ("train", "eval")),
                        {"split_names": json.dumps(["train", "eval"])}, id=1)
    schema = Schema(_model_fixtures.write_schema(os.path.join(root, "schema")), id=2)
    return root, examples, schema


def test_the_first_step_starts_from_the_base_models_weights(data):
    root, examples, schema = data
    base, scratch_first_loss = _trainer(root, examples, schema)
    assert _loss_of_saved_model(os.path.join(base.uri, "Format-Serving"), ROWS[:8]) < scratch_first_loss - 0.1

    warm, warm_first_loss = _trainer(root, examples, schema, base=base, steps=5)
    # The first batch's loss, computed before the first update, is the base model's on that batch
    # (a fresh init with the same seed would give scratch_first_loss again).
    base_loss = _loss_of_saved_model(os.path.join(base.uri, "Format-Serving"), ROWS[:8])
    assert warm_first_loss == pytest.approx(base_loss, abs=1e-5)
    assert abs(warm_first_loss - scratch_first_loss) > 0.1
    assert warm.id != base.id


def test_a_base_model_of_another_architecture_is_refused_with_the_reason(data):
    root, examples, schema = data
    base, _ = _trainer(root, examples, schema, steps=2)
    with pytest.raises(WarmStartError, match="warm start needs the same architecture|does not match"):
        _trainer(root, examples, schema, base=base, hidden_units=8, steps=2)
