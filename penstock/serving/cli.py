"""``penstock serve``: serve SavedModels over TF Serving's REST and gRPC APIs.

The flags mirror ``tensorflow_model_server`` (``--model_name`` is ``--model-name`` here), so a
deployment can move between the two servers unchanged.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from penstock.errors import PenstockError


@click.command("serve")
@click.option("--model-name", help="Name of the model (single-model mode).")
@click.option("--model-base-path", type=click.Path(file_okay=False),
              help="Directory holding <version>/saved_model.pb (single-model mode).")
@click.option("--model-config-file", type=click.Path(dir_okay=False),
              help="TF Serving models.config (ModelServerConfig text proto): several models, version "
                   "policies and labels.")
@click.option("--model-config-file-poll-wait-seconds", type=float, default=0.0, show_default=True,
              help="Re-read the config file when it changes, checked this often (0: read it once).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback by default; 0.0.0.0 exposes the server).")
@click.option("--rest-api-port", type=int, default=8501, show_default=True, help="REST port (0: any free port).")
@click.option("--port", "grpc_port", type=int, default=8500, show_default=True, help="gRPC port (0: any free port).")
@click.option("--file-system-poll-wait-seconds", type=float, default=1.0, show_default=True,
              help="How often to look for new model versions.")
@click.option("--enable-batching/--no-enable-batching", default=True, show_default=True,
              help="Stack concurrent requests into one model call.")
@click.option("--max-batch-size", type=int, default=64, show_default=True)
@click.option("--batch-timeout-micros", type=int, default=0, show_default=True,
              help="How long a batch may wait to fill (0: run what is queued at once).")
@click.option("--num-batch-threads", type=int, default=None, help="Batch threads per signature (default 1).")
@click.option("--enable-model-warmup/--no-enable-model-warmup", default=True, show_default=True,
              help="Replay assets.extra/tf_serving_warmup_requests before serving a version.")
@click.option("--traffic-split", "traffic_splits", multiple=True, metavar="MODEL=TARGET:WEIGHT,...",
              help="A/B split for requests naming no version, e.g. taxi=stable:90,canary:10 (targets: "
                   "labels or version numbers). Repeatable, one per model.")
@click.option("--max-request-bytes", type=int, default=64 * 1024 * 1024, show_default=True,
              help="Largest request body (REST) or message (gRPC) accepted.")
@click.option("--grpc-max-concurrent-rpcs", type=int, default=1024, show_default=True,
              help="gRPC calls in progress at once; more are refused with RESOURCE_EXHAUSTED.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def serve(model_name: str | None, model_base_path: str | None, model_config_file: str | None,
          model_config_file_poll_wait_seconds: float, host: str, rest_api_port: int, grpc_port: int,
          file_system_poll_wait_seconds: float, enable_batching: bool, max_batch_size: int,
          batch_timeout_micros: int, num_batch_threads: int | None, enable_model_warmup: bool,
          traffic_splits: tuple[str, ...], max_request_bytes: int, grpc_max_concurrent_rpcs: int,
          log_level: str) -> None:
    """Serve SavedModels with TF Serving's REST and gRPC APIs."""
    logging.basicConfig(level=getattr(logging, log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # TF's C++ start-up chatter (CUDA factories, CPU features) is noise for a server log.
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from penstock.serving.batching import BatchingOptions
    from penstock.serving.config import single_model_config
    from penstock.serving.server import ModelServer, ServerOptions

    try:
        if model_config_file and (model_name or model_base_path):
            raise click.UsageError("give either --model-config-file or --model-name/--model-base-path, not both")
        if not model_config_file and not (model_name and model_base_path):
            raise click.UsageError("give --model-name and --model-base-path, or --model-config-file")
        if max_batch_size < 1 or batch_timeout_micros < 0 or max_request_bytes < 1 or grpc_max_concurrent_rpcs < 1:
            raise click.UsageError("--max-batch-size, --max-request-bytes and --grpc-max-concurrent-rpcs must be "
                                   ">= 1 and --batch-timeout-micros >= 0")
        batching = None
        if enable_batching:
            batching = BatchingOptions(max_batch_size=max_batch_size, batch_timeout_micros=batch_timeout_micros)
            if num_batch_threads:
                batching = BatchingOptions(max_batch_size, batch_timeout_micros, num_batch_threads)
        options = ServerOptions(
            host=host, rest_port=rest_api_port, grpc_port=grpc_port,
            file_system_poll_wait_seconds=file_system_poll_wait_seconds,
            model_config_file=model_config_file,
            model_config_file_poll_wait_seconds=model_config_file_poll_wait_seconds,
            traffic_splits=list(traffic_splits), batching=batching,
            enable_model_warmup=enable_model_warmup, max_request_bytes=max_request_bytes,
            grpc_max_concurrent_rpcs=grpc_max_concurrent_rpcs,
        )
        models = [single_model_config(model_name, model_base_path)] if model_name and model_base_path else None
        server = ModelServer(models, options)
        if model_base_path and not os.path.isdir(model_base_path):
            click.echo(f"warning: --model-base-path {model_base_path} does not exist yet; waiting for versions",
                       err=True)
        server.start()
    except PenstockError as e:
        raise click.ClickException(str(e)) from None

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    click.echo(f"penstock serve: REST http://{host}:{server.rest_port}  gRPC {host}:{server.grpc_port}  "
               f"models: {', '.join(c.name for c in server.models)}", err=True)
    sys.stderr.flush()
    stopping.wait()
    click.echo("penstock serve: shutting down", err=True)
    server.stop()

if __name__ == "__main__":
    serve()
