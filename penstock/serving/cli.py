"""``penstock serve``: a drop-in for ``tensorflow_model_server``.

Every flag of TF Serving's model server is accepted, spelled as TF Serving spells it
(``--model_base_path=/models/x``, ``--enable_batching=true``, ``--enable_batching``) or with dashes
(``--model-base-path /models/x``), with TF Serving's defaults and meanings: ``--port=0`` turns gRPC
off, ``--rest_api_port`` is off unless given, batching is off unless enabled. The flags that tune
TensorFlow Serving internals penstock does not have (load thread pools, TPU, TFLite, XLA, the
profiler) are accepted and have no effect (logged once at start). As in TF Serving's Docker image,
with no model flags the environment's ``MODEL_NAME`` (default ``model``) and ``MODEL_BASE_PATH``
(default ``/models``) serve ``$MODEL_BASE_PATH/$MODEL_NAME`` on ports 8500 and 8501 of every
interface.

penstock's additions (``--host``, ``--traffic_split``, ``--max_request_bytes``,
``--grpc_max_concurrent_rpcs``, ``--rest_response_model_version``,
``--classify_regress_on_predict_signatures``, ``--log_level``) change nothing unless given. One
deliberate difference: outside the Docker mode the server listens on 127.0.0.1 unless ``--host``
says otherwise (TF Serving listens on every interface).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click

from penstock.errors import PenstockError

log = logging.getLogger("penstock.serving")


def _spellings(name: str) -> list[str]:
    """TF Serving's spelling and the dashed one (``--model_name``, ``--model-name``)."""
    dashed = name.replace("_", "-")
    return [f"--{name}"] + ([f"--{dashed}"] if dashed != name else [])


def _option(name: str, kind: Any = str, default: Any = None, help: str | None = None, **kw: Any) -> Any:
    if kind is bool:
        # TF Serving's boolean flags: --flag, --flag=true, --flag=false (and 1/0)
        return click.option(*_spellings(name), name, type=click.BOOL, is_flag=False, flag_value=True,
                            default=default, help=help, **kw)
    return click.option(*_spellings(name), name, type=kind, default=default, help=help, **kw)


# TF Serving flags that tune internals penstock does not have: accepted, no effect
NO_EFFECT_FLAGS: list[tuple[str, Any]] = [
    ("num_load_threads", int), ("num_unload_threads", int), ("max_num_load_retries", int),
    ("load_retry_interval_micros", int), ("flush_filesystem_caches", bool), ("grpc_max_threads", int),
    ("remove_unused_fields_from_bundle_metagraph", bool), ("num_tflite_pools", int),
    ("num_tflite_interpreters_per_pool", int), ("xla_cpu_compilation_enabled", bool),
    ("xla_gpu_compilation_enabled", bool), ("enable_profiler", bool), ("thread_pool_factory_config_file", str),
    ("mixed_precision", str), ("skip_initialize_tpu", bool),
]
# TF Serving flags whose feature penstock does not offer: refused when used, rather than ignored
REFUSED_FLAGS: list[tuple[str, Any, str]] = [
    ("use_alts_credentials", bool, "ALTS credentials are not supported; use --ssl_config_file"),
    ("platform_config_file", str, "--platform_config_file is not supported (only TensorFlow SavedModels are served)"),
    ("prefer_tflite_model", bool, "--prefer_tflite_model is not supported (TensorFlow SavedModels only)"),
]

OPTIONS: list[Callable[[Any], Any]] = [
    _option("port", int, 8500, "gRPC port (0: no gRPC port)."),
    _option("grpc_socket_path", str, None, "Also listen for gRPC on this UNIX socket."),
    _option("rest_api_port", int, None, "REST port (default and 0: no REST API)."),
    _option("rest_api_num_threads", int, None, "Threads running model calls (default 4 per CPU)."),
    _option("rest_api_timeout_in_ms", int, 30000, "A REST request's model run may take this long (then 504)."),
    _option("rest_api_enable_cors_support", bool, False, "CORS headers and preflight answers on REST."),
    _option("enable_batching", bool, False, "Stack concurrent requests into one model call (only models whose "
            "SavedModel has batching_params.pbtxt)."),
    _option("allow_version_labels_for_unavailable_models", bool, False,
            "Let new version labels point to versions not loaded yet."),
    _option("batching_parameters_file", str, None, "BatchingParameters text proto (needs --enable_batching)."),
    _option("enable_per_model_batching_parameters", bool, False,
            "Use each model's batching_params.pbtxt values instead of the global ones."),
    _option("model_config_file", str, None, "ModelServerConfig text proto: several models, policies, labels."),
    _option("model_config_file_poll_wait_seconds", int, 0, "Re-read the config file this often (0: once)."),
    _option("model_name", str, None, "Name of the model (default 'default')."),
    _option("model_base_path", str, None, "Directory holding <version>/saved_model.pb."),
    _option("file_system_poll_wait_seconds", int, 1, "How often to look for new versions (0: once at start)."),
    _option("tensorflow_session_parallelism", int, 0, "Threads for a TensorFlow session run (0: auto)."),
    _option("tensorflow_intra_op_parallelism", int, 0, "Threads within an op (0: auto)."),
    _option("tensorflow_inter_op_parallelism", int, 0, "Ops run at once (0: auto)."),
    _option("tensorflow_session_config_file", str, None, "TensorFlow ConfigProto text proto for the sessions."),
    _option("per_process_gpu_memory_fraction", float, 0.0, "GPU memory fraction per process (0: TensorFlow's)."),
    _option("ssl_config_file", str, None, "SSLConfig text proto: serve gRPC over TLS."),
    _option("saved_model_tags", str, "serve", "Comma-separated tags of the meta graph to load."),
    _option("grpc_channel_arguments", str, "", "gRPC server arguments, e.g. grpc.max_connection_age_ms=2000,..."),
    _option("enable_model_warmup", bool, True, "Replay assets.extra/tf_serving_warmup_requests at load."),
    _option("num_request_iterations_for_warmup", int, 0, "Replay each warmup request this many times."),
    _option("version", bool, False, "Print the version and exit."),
    _option("monitoring_config_file", str, None, "MonitoringConfig text proto (Prometheus metrics on REST)."),
    _option("enable_signature_method_name_check", bool, False, "Require matching signature method names."),
    _option("enable_grpc_healthcheck_service", bool, False, "Serve grpc.health.v1.Health."),
    _option("enable_serialization_as_tensor_content", bool, False,
            "Predict answers in tensor_content instead of the typed value fields."),
    *(_option(name, kind, None, "Accepted for TF Serving compatibility; no effect.", hidden=True)
      for name, kind in NO_EFFECT_FLAGS),
    *(_option(name, kind, None, "Not supported.", hidden=True) for name, kind, _ in REFUSED_FLAGS),
    # penstock's additions
    _option("host", str, None, "Address to listen on (127.0.0.1 unless given; 0.0.0.0 exposes the server)."),
    click.option(*_spellings("traffic_split"), "traffic_split", multiple=True, metavar="MODEL=TARGET:WEIGHT,...",
                 help="A/B split for requests naming no version, e.g. taxi=stable:90,canary:10 (labels or "
                      "version numbers). Repeatable."),
    _option("max_request_bytes", int, 2**31 - 1, "Largest REST body (also once gunzipped)."),
    _option("grpc_max_concurrent_rpcs", int, None, "gRPC calls in progress at once (more: RESOURCE_EXHAUSTED)."),
    _option("rest_response_model_version", bool, False, "Add 'model_version' to REST inference responses."),
    _option("classify_regress_on_predict_signatures", bool, False,
            "Serve :classify/:regress from a predict signature with one string input (TFX exports)."),
    click.option(*_spellings("log_level"), "log_level", type=click.Choice(["debug", "info", "warning", "error"]),
                 default="info", show_default=True),
    # penstock's earlier spellings
    click.option("--no-enable-batching", "no_enable_batching", is_flag=True, hidden=True),
    click.option("--no-enable-model-warmup", "no_enable_model_warmup", is_flag=True, hidden=True),
]


def _serve_command(function: Callable[..., None]) -> click.Command:
    for option in reversed(OPTIONS):
        function = option(function)
    return click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})(function)


def parse_channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """``k=v,k=v`` as TF Serving reads --grpc_channel_arguments (a value that parses as an int is one)."""
    arguments: list[tuple[str, int | str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--grpc_channel_arguments: {item!r} is not KEY=VALUE")
        try:
            arguments.append((key, int(value)))
        except ValueError:
            arguments.append((key, value))
    return arguments


def _session_config(flags: dict[str, Any]) -> Any:
    """TF Serving's SessionConfig from the parallelism / config-file / GPU flags (None: defaults)."""
    intra, inter, both = (flags["tensorflow_intra_op_parallelism"], flags["tensorflow_inter_op_parallelism"],
                          flags["tensorflow_session_parallelism"])
    if intra > 0 and inter > 0 and both > 0:
        raise click.UsageError("Either configure --tensorflow_session_parallelism or "
                               "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) separately. "
                               "You cannot configure all.")
    if not (intra or inter or both or flags["tensorflow_session_config_file"]
            or flags["per_process_gpu_memory_fraction"]):
        return None
    from tensorflow.core.protobuf import config_pb2

    from penstock.serving.config import parse_text_proto, read_text_file

    config = config_pb2.ConfigProto()
    if flags["tensorflow_session_config_file"]:
        path = flags["tensorflow_session_config_file"]
        parse_text_proto(read_text_file(path, "tensorflow session config file"), config, path)
    if intra > 0 or inter > 0:
        config.intra_op_parallelism_threads, config.inter_op_parallelism_threads = intra, inter
    elif both > 0:
        config.intra_op_parallelism_threads = config.inter_op_parallelism_threads = both
    if flags["per_process_gpu_memory_fraction"]:
        config.gpu_options.per_process_gpu_memory_fraction = flags["per_process_gpu_memory_fraction"]
    return config


def _ssl_credentials(path: str) -> Any:
    import grpc

    from penstock.serving.config import parse_text_proto, read_text_file

    ssl = parse_text_proto(read_text_file(path, "SSL config file"), "tensorflow.serving.SSLConfig", path)
    return grpc.ssl_server_credentials([(ssl.server_key.encode(), ssl.server_cert.encode())],
                                       root_certificates=ssl.custom_ca.encode() or None,
                                       require_client_auth=ssl.client_verify)


def build_options(flags: dict[str, Any], environ: dict[str, str]) -> tuple[Any, Any]:
    """(model configs or None, ServerOptions) from the flags, with TF Serving's rules and checks."""
    from penstock.serving.batching import BatchingOptions
    from penstock.serving.config import (
        MonitoringOptions,
        load_batching_parameters_file,
        load_monitoring_config_file,
        single_model_config,
    )
    from penstock.serving.server import ServerOptions

    for name, _, why in REFUSED_FLAGS:
        if flags[name]:
            raise click.UsageError(why)
    used = [name for name, _ in NO_EFFECT_FLAGS if flags[name] not in (None, False)]
    if used:
        log.info("accepted with no effect in penstock: %s", ", ".join(f"--{n}" for n in used))
    host = flags["host"]
    rest_port = flags["rest_api_port"]
    model_name, base_path = flags["model_name"], flags["model_base_path"]
    docker = not flags["model_config_file"] and not base_path and bool(environ.get("MODEL_BASE_PATH")
                                                                       or environ.get("MODEL_NAME"))
    if docker:  # what TF Serving's image entrypoint (tf_serving_entrypoint.sh) passes
        env_name = environ.get("MODEL_NAME") or "model"
        model_name = model_name or env_name
        base_path = os.path.join(environ.get("MODEL_BASE_PATH") or "/models", env_name)
        rest_port = 8501 if rest_port is None else rest_port
        host = host or "0.0.0.0"
    if flags["port"] == 0 and not flags["grpc_socket_path"]:
        raise click.UsageError("At least one of server_options.grpc_port or server_options.grpc_socket_path must "
                               "be set.")
    if not base_path and not flags["model_config_file"]:
        raise click.UsageError("Both server_options.model_base_path and server_options.model_config_file are empty! "
                               "Give --model_base_path (and --model_name) or --model_config_file.")
    if flags["model_config_file"] and (model_name or base_path):
        log.warning("--model_config_file is given: --model_name and --model_base_path are ignored")
    enable_batching = flags["enable_batching"] and not flags["no_enable_batching"]
    if flags["batching_parameters_file"] and not enable_batching:
        raise click.UsageError("server_options.batching_parameters_file is set without setting "
                               "server_options.enable_batching to true.")
    batching = None
    if enable_batching:
        per_model = bool(flags["enable_per_model_batching_parameters"])
        batching = BatchingOptions(per_model=per_model)
        if flags["batching_parameters_file"]:
            batching = BatchingOptions.from_proto(load_batching_parameters_file(flags["batching_parameters_file"]),
                                                  per_model)
    if rest_port and rest_port == flags["port"]:
        log.error("server_options.http_port cannot be same as grpc_port. Please use a different port for HTTP/REST "
                  "API. Skipped exporting HTTP/REST API.")
        rest_port = None
    options = ServerOptions(
        host=host or "127.0.0.1",
        rest_port=rest_port or None,
        grpc_port=flags["port"] or None,
        grpc_socket_path=flags["grpc_socket_path"],
        file_system_poll_wait_seconds=flags["file_system_poll_wait_seconds"],
        model_config_file=flags["model_config_file"],
        model_config_file_poll_wait_seconds=flags["model_config_file_poll_wait_seconds"],
        traffic_splits=list(flags["traffic_split"]),
        batching=batching,
        enable_model_warmup=flags["enable_model_warmup"] and not flags["no_enable_model_warmup"],
        num_request_iterations_for_warmup=max(flags["num_request_iterations_for_warmup"], 1),
        max_request_bytes=flags["max_request_bytes"],
        grpc_max_concurrent_rpcs=flags["grpc_max_concurrent_rpcs"],
        grpc_channel_arguments=parse_channel_arguments(flags["grpc_channel_arguments"]),
        grpc_credentials=_ssl_credentials(flags["ssl_config_file"]) if flags["ssl_config_file"] else None,
        rest_timeout_ms=flags["rest_api_timeout_in_ms"],
        rest_cors=flags["rest_api_enable_cors_support"],
        monitoring=(load_monitoring_config_file(flags["monitoring_config_file"])
                    if flags["monitoring_config_file"] else MonitoringOptions()),
        saved_model_tags=tuple(t for t in flags["saved_model_tags"].split(",") if t),
        session_config=_session_config(flags),
        allow_version_labels_for_unavailable_models=flags["allow_version_labels_for_unavailable_models"],
        enable_grpc_healthcheck_service=flags["enable_grpc_healthcheck_service"],
        tensor_content=flags["enable_serialization_as_tensor_content"],
        method_name_check=flags["enable_signature_method_name_check"],
        lenient_example_signatures=flags["classify_regress_on_predict_signatures"],
        include_model_version=flags["rest_response_model_version"],
    )
    if flags["rest_api_num_threads"]:
        options.model_threads = flags["rest_api_num_threads"]
    if options.max_request_bytes < 1 or (options.grpc_max_concurrent_rpcs or 1) < 1:
        raise click.UsageError("--max_request_bytes and --grpc_max_concurrent_rpcs must be >= 1")
    models = None
    if not flags["model_config_file"]:
        models = [single_model_config(model_name or "default", base_path)]
    return models, options


def _run(**flags: Any) -> None:
    """Serve SavedModels with TF Serving's REST and gRPC APIs (TF Serving's flags, both spellings)."""
    logging.basicConfig(level=getattr(logging, flags["log_level"].upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # TF's C++ start-up chatter (CUDA factories, CPU features) is noise for a server log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if flags["version"]:
        from importlib.metadata import version

        import tensorflow as tf

        click.echo(f"TensorFlow ModelServer: penstock {version('penstock')}\nTensorFlow Library: {tf.__version__}")
        return
    from penstock.serving import storage
    from penstock.serving.server import ModelServer

    try:
        models, options = build_options(flags, dict(os.environ))
        server = ModelServer(models, options)
        for model in server.models:
            if not storage.exists(model.base_path):
                click.echo(f"warning: base path {model.base_path} of model {model.name} does not exist yet; "
                           "waiting for versions", err=True)
        server.start()
    except PenstockError as e:
        raise click.ClickException(str(e)) from None

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    rest = f"http://{options.host}:{server.rest_port}" if server.rest_port else "off"
    grpc = f"{options.host}:{server.grpc_port}" if server.grpc_port else "off"
    click.echo(f"penstock serve: REST {rest}  gRPC {grpc}  models: {', '.join(c.name for c in server.models)}",
               err=True)
    sys.stderr.flush()
    stopping.wait()
    click.echo("penstock serve: shutting down", err=True)
    server.stop()


serve = _serve_command(_run)

if __name__ == "__main__":
    serve()
