"""Warmup replay: ``assets.extra/tf_serving_warmup_requests`` (PredictionLog TFRecords) run through
the same inference dispatch as real requests before a version serves, as TF Serving does. Any
failing record fails the load, so a version that cannot answer its own warmup is never served."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from penstock.serving import inference, storage, tensor_proto
from penstock.serving.errors import invalid
from penstock.serving.servable import Outputs, Servable

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000  # TF Serving's kMaxNumRecords


def warmup_path(servable: Servable) -> str:
    return os.path.join(servable.path, WARMUP_FILE)


async def _direct(call: inference.Call) -> Outputs:
    return call.execute()


async def replay_record(servable: Servable, entry: Any) -> None:
    """One PredictionLog, through the dispatch REST and gRPC use."""
    kind = entry.WhichOneof("log_type")
    if kind == "predict_log":
        request = entry.predict_log.request
        inputs = {key: tensor_proto.to_array(proto, key) for key, proto in request.inputs.items()}
        await inference.predict(servable, request.model_spec.signature_name, inputs, list(request.output_filter),
                                _direct)
    elif kind in ("classify_log", "regress_log"):
        request = getattr(entry, kind).request
        method = inference.classify if kind == "classify_log" else inference.regress
        await method(servable, request.model_spec.signature_name, tensor_proto.serialized_examples(request.input), _direct)
    elif kind == "multi_inference_log":
        request = entry.multi_inference_log.request
        await inference.multi_inference(servable, tensor_proto.tasks(request), tensor_proto.serialized_examples(request.input), _direct)
    else:
        raise invalid(f"Unsupported log_type for warmup: {kind}")


def replay(servable: Servable, iterations: int = 1) -> int:
    """Replay the warmup file (if any) ``iterations`` times; returns the records read."""
    path = warmup_path(servable)
    if not storage.exists(path):
        return 0
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    records = [r.numpy() for r in tf.data.TFRecordDataset(path).take(MAX_RECORDS + 1)]
    if len(records) > MAX_RECORDS:
        raise invalid(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
    loop = asyncio.new_event_loop()
    try:
        for _ in range(max(iterations, 1)):
            for record in records:
                loop.run_until_complete(replay_record(servable, prediction_log_pb2.PredictionLog.FromString(record)))
    finally:
        loop.close()
    return len(records)
