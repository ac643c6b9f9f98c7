"""Pusher: copies a blessed model into a TF Serving model directory.

Only a model whose ModelBlessing says blessed (and whose InfraBlessing does too, when one is
wired) is pushed; anything else is recorded as "not pushed" with the reason. The destination is
TF Serving's layout, ``<push_destination>/<model_name>/<version>/`` with integer versions, and a
``models.config`` (model_config_list) for the whole destination, on a disk or an object store
(``gs://``, ``s3://``). A server polling the destination never loads a half-copied model (see
the executor).

The destination is checked when the component is declared: a path that cannot be created or
written fails the pipeline definition, before anything runs.
"""

from __future__ import annotations

import os
from typing import Any

from penstock import settings
from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import InfraBlessing, Model, ModelBlessing, PushedModel
from penstock.errors import PipelineDefinitionError
from penstock.storage import filesystem


def model_name_problem(name: str) -> str | None:
    """Why servers would refuse ``name`` as a model name (None if they serve it).

    TF Serving itself only requires names to be unique (``server_core.cc``) and addresses them
    over REST as one URL path segment, ``/v1/models/([^/:]+)`` (``http_rest_api_util.cc``); a
    pushed model is also a folder, ``<push_destination>/<name>``. ``penstock serve`` accepts a
    stricter set inside that (no ``..``, no spaces): the Pusher takes the server's own rule, so
    it never pushes a name that the server then refuses."""
    from penstock.serving.config import is_valid_model_name

    if is_valid_model_name(name):
        return None
    return ("is not a name the model server accepts: use letters, digits, '_', '-' or '.', starting with a "
            "letter or digit, at most 128 characters, with no '..'")


class Pusher(Component):
    """Push a blessed model to ``<push_destination>/<model_name>/<version>/``.

    Versions are ``max(existing versions) + 1`` (1 for the first push), so the newest push is
    always the version TF Serving serves by default; the oldest versions beyond ``keep_versions``
    are removed (0 keeps every version). ``model_name`` defaults to the pipeline's name and
    ``push_destination`` to ``$PENSTOCK_HOME/serving``.
    """

    SPEC = ComponentSpec(
        inputs={
            "model": InputSpec(Model),
            "model_blessing": InputSpec(ModelBlessing, description="the Evaluator's verdict"),
            "infra_blessing": InputSpec(InfraBlessing, optional=True, description="the InfraValidator's verdict"),
        },
        outputs={"pushed_model": OutputSpec(PushedModel)},
        parameters={
            "push_destination": Parameter(str | None, default=None, description="TF Serving base directory"),
            "model_name": Parameter(str | None, default=None, description="defaults to the pipeline name"),
            "keep_versions": Parameter(int, default=5, description="versions kept after a push; 0 keeps all"),
        },
    )
    EXECUTOR = "penstock.components.pusher.executor:run"
    VERSION = "1"
    FILE_ACCESS = ("penstock",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        destination = self.parameters["push_destination"] or settings.default_serving_dir()
        self.parameters["push_destination"] = filesystem.absolute(destination)
        problem = destination_problem(self.parameters["push_destination"])
        if problem:
            raise PipelineDefinitionError(f"{self.id}: push_destination {destination!r} {problem}")
        name = self.parameters["model_name"]
        problem = model_name_problem(name) if name is not None else None
        if problem:
            raise PipelineDefinitionError(f"{self.id}: model_name {name!r} {problem}")
        if self.parameters["keep_versions"] < 0:
            raise PipelineDefinitionError(
                f"{self.id}: keep_versions must be >= 0 (0 keeps every version), got {self.parameters['keep_versions']}"
            )


def destination_problem(path: str) -> str | None:
    """Why ``path`` cannot serve as a push destination (None if it can): it or its nearest
    existing ancestor must be a writable directory. An object store is checked by writing."""
    if filesystem.is_remote(path):
        return None
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            return "has no existing ancestor directory"
        current = parent
    if not os.path.isdir(current):
        what = "is" if current == os.path.abspath(path) else f"cannot be created: {current} is"
        return f"{what} a file, not a directory"
    if not os.access(current, os.W_OK | os.X_OK):
        where = "" if current == os.path.abspath(path) else f" ({current})"
        return f"is not writable{where}"
    return None
