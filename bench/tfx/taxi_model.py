"""The BulkInferrer benchmark's model: a SavedModel whose ``serving_default`` takes serialized taxi
tf.Examples (as CsvExampleGen writes the generated CSV: types inferred from the data) and runs a
small network over numeric and hashed categorical features. Weights are seeded, not trained: the
benchmark measures inference throughput, not accuracy, and needs no training run.

    python bench/tfx/taxi_model.py OUTPUT_DIR
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

FLOATS = ["fare", "trip_miles", "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude", "tips"]
INTS = ["trip_seconds", "trip_start_hour", "trip_start_day", "trip_start_month", "pickup_community_area"]
STRINGS = ["payment_type", "company"]


def build(output_dir: str) -> None:
    import tensorflow as tf

    tf.random.set_seed(0)
    spec = {**{k: tf.io.VarLenFeature(tf.float32) for k in FLOATS}, **{k: tf.io.VarLenFeature(tf.int64) for k in INTS},
            **{k: tf.io.VarLenFeature(tf.string) for k in STRINGS}}
    width = len(FLOATS) + len(INTS) + 16 * len(STRINGS)

    class Model(tf.Module):
        def __init__(self) -> None:
            self.embedding = tf.Variable(tf.random.normal([1000, 16], stddev=0.1))
            self.w1 = tf.Variable(tf.random.normal([width, 32], stddev=0.1))
            self.w2 = tf.Variable(tf.random.normal([32, 1], stddev=0.1))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(examples, spec)

            def dense(name: str, default: object) -> tf.Tensor:
                value = parsed[name]
                return tf.sparse.to_dense(tf.SparseTensor(value.indices, value.values, [value.dense_shape[0], 1]),
                                          default_value=default)[:, 0]

            columns = [dense(k, 0.0) for k in FLOATS] + [tf.cast(dense(k, 0), tf.float32) for k in INTS]
            hashed = [tf.nn.embedding_lookup(self.embedding, tf.strings.to_hash_bucket_fast(dense(k, ""), 1000))
                      for k in STRINGS]
            features = tf.concat([tf.stack(columns, axis=1), *hashed], axis=1)
            hidden = tf.nn.relu(tf.matmul(features, self.w1))
            return {"outputs": tf.sigmoid(tf.matmul(hidden, self.w2))}

    model = Model()
    tf.saved_model.save(model, output_dir, signatures={"serving_default": model.serve.get_concrete_function()})


if __name__ == "__main__":
    build(sys.argv[1])
