"""A light component that declares the TensorFlow stack, so runs send it to a worker process,
and does whatever a test asks of it there (report its process, crash, exit, sleep, import a
user module). Imported by name in workers: it must stay importable as
``tests.runtime._worker_components``."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import sys
import time
from typing import Any

from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import Examples
from penstock.errors import RetryableError

USER_MODULE = "penstock_test_user_module"


class Probe(Component):
    SPEC = ComponentSpec(
        inputs={"after": InputSpec(Examples, optional=True)},
        outputs={"out": OutputSpec(Examples)},
        parameters={
            "action": Parameter(str, default="report"),
            "path": Parameter(str, default=""),
            "seconds": Parameter(float, default=0.0),
        },
    )
    EXECUTOR = "tests.runtime._worker_components:probe"
    HEAVY_MODULES = ("apache_beam",)  # the stack: runs send it to their worker


def probe(ctx: Any) -> None:
    out = ctx.output("out")
    action = ctx.parameters["action"]
    report: dict[str, Any] = {"pid": os.getpid(), "user_module_loaded_before": USER_MODULE in sys.modules}
    out.custom_properties["pid"] = os.getpid()
    os.makedirs(out.uri, exist_ok=True)
    with open(os.path.join(out.uri, "report.json"), "w") as f:
        json.dump(report, f)
    if action == "user_module":  # what a Trainer does with its module file
        spec = importlib.util.spec_from_file_location(USER_MODULE, ctx.parameters["path"])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[USER_MODULE] = module
        spec.loader.exec_module(module)
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "os_exit":
        os._exit(7)
    elif action == "retryable":
        raise RetryableError("the service is down") from ConnectionError("connection refused")
    elif action == "sleep":
        with open(ctx.parameters["path"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(ctx.parameters["seconds"])
    logging.getLogger("penstock.component.probe").warning("probe %s done in %s", ctx.component_id, os.getpid())
    print(f"printed by {ctx.component_id}")
