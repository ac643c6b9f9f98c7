"""AutoGraph leaves library internals alone and still converts users' code."""

from __future__ import annotations

import penstock._env as env


def test_library_code_is_called_as_written_and_user_code_is_still_converted():
    import tensorflow as tf
    import tf_keras as keras
    from tensorflow.python.autograph.core import config
    from tensorflow.python.autograph.impl import conversion

    env.skip_autograph_for_libraries()
    env.skip_autograph_for_libraries()
    prefixes = [getattr(rule, "_prefix", None) for rule in config.CONVERSION_RULES]
    assert all(prefixes.count(name) == 1 for name in env.AUTOGRAPH_SKIPS)

    assert conversion.is_allowlisted(keras.layers.Dense.call)
    assert conversion.is_allowlisted(keras.Model.train_step)

    def user_step(x):
        if tf.reduce_sum(x) > 0:  # a tensor condition: only works once AutoGraph rewrites it
            return x * 2.0
        return -x

    assert not conversion.is_allowlisted(user_step)
    traced = tf.function(user_step)
    assert traced(tf.constant([1.0])).numpy().tolist() == [2.0]
    assert traced(tf.constant([-3.0])).numpy().tolist() == [3.0]


def test_keras_fit_traces_its_train_step_without_rewriting_keras():
    import numpy as np
    import tf_keras as keras
    from tensorflow.python.autograph.impl import api

    env.skip_autograph_for_libraries()
    converted: list[str] = []
    original = api._convert_actual

    def spy(entity, program_ctx):
        converted.append(f"{getattr(entity, '__module__', '')}:{getattr(entity, '__qualname__', '')}")
        return original(entity, program_ctx)

    api._convert_actual = spy
    try:
        model = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
    finally:
        api._convert_actual = original
    # tf.function always converts the function it wraps (Keras's own train_function closures);
    # nothing they call inside Keras is rewritten.
    keras_converted = [name for name in converted if name.startswith("tf_keras")]
    assert keras_converted, "the spy saw no conversion at all: it is not hooked where AutoGraph converts"
    assert all("make_train_function.<locals>" in name for name in keras_converted), keras_converted


def test_importing_penstock_changes_nothing_in_the_users_process():
    """Environment, warning filters and logger levels are the user's: only penstock's commands
    (and the runtime, when a component runs) change them."""
    import subprocess
    import sys

    probe = """
import logging, os, sys, warnings
before = (dict(os.environ), list(warnings.filters), {n: logging.getLogger(n).level for n in ("absl", "tensorflow", "apache_beam")})
import penstock
from penstock import Pipeline, CsvExampleGen, Evaluator, Trainer, Pusher, component, artifacts
import penstock.runtime.node_execution, penstock.storage.staging, penstock._env
after = (dict(os.environ), list(warnings.filters), {n: logging.getLogger(n).level for n in ("absl", "tensorflow", "apache_beam")})
assert before == after, [k for k in set(before[0]) ^ set(after[0])] or (before[1:], after[1:])
heavy = [m for m in ("tensorflow", "apache_beam", "ml_metadata", "tensorflow_data_validation", "pyarrow", "kfp") if m in sys.modules]
assert not heavy, heavy
print("ok")
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_quiet_libraries_outlasts_a_library_resetting_its_level():
    import os
    import subprocess
    import sys

    probe = ("import logging\nfrom penstock import _env\n_env.quiet_libraries()\n"
             "logging.basicConfig()\nlogging.getLogger('absl').setLevel(logging.WARNING)\n"
             "logging.getLogger('absl').warning('`capital-gain` is not a valid tf.function parameter name')\n"
             "logging.getLogger('absl').error('a real problem')\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={k: v for k, v in os.environ.items() if k != "PENSTOCK_VERBOSE"})
    assert "capital-gain" not in done.stderr and "a real problem" in done.stderr
