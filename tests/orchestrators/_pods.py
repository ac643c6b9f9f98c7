"""Shared by the pod-isolation tests: projects layered over this repository (the image's build
contexts), compiling them for Kubeflow with MariaDB metadata, and looking for local folders named
after URI schemes (what ``os.makedirs("gs://...")`` leaves)."""

from __future__ import annotations

import os
import pathlib
import re
import textwrap
from collections.abc import Iterable

from penstock.orchestrators.kubeflow.compiler import CompileResult, compile_kubeflow
from penstock.runtime.loader import load_pipeline
from tests.conftest import PROJECT_ROOT

IMAGE = "registry.example.com/penstock:pods"
PASSWORD_VARIABLE = "PENSTOCK_METADATA_PASSWORD"
SECRET = ("mlmd-db", "password")  # the Kubernetes secret (name, key) holding the MySQL password
_URI_FOLDER = re.compile(r"(^|/)(gs|s3|s3a|hdfs):(/|$)")
ONE_COMPONENT_PIPELINE = """\
from penstock.dsl.function_component import OutputArtifact, component
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.standard_artifacts import Examples


@component
def {name}(examples: OutputArtifact[Examples]):
{body}


pipeline = Pipeline("{name}", [{name}()])
"""


def write_one_component_pipeline(project: pathlib.Path, name: str, body: str) -> pathlib.Path:
    """``project/pipeline.py``: one function component ``name`` running ``body``."""
    project.mkdir(parents=True, exist_ok=True)
    path = project / "pipeline.py"
    path.write_text(ONE_COMPONENT_PIPELINE.format(name=name, body=textwrap.indent(body, "    ")))
    return path


def image_layers(project: pathlib.Path) -> list[str]:
    """The image: this repository (penstock, the examples) with the test's project over it."""
    return [PROJECT_ROOT, str(project)]


def secrets(mariadb_server) -> dict[str, dict[str, str]]:
    return {SECRET[0]: {SECRET[1]: mariadb_server.password}}


def compile_for_pods(project: pathlib.Path, output: pathlib.Path, *, pipeline_root: str, metadata: str,
                     pipeline_file: str = "pipeline.py") -> CompileResult:
    """Compile ``project/pipeline_file`` (its path in the image: relative to the project) with an
    object-store root and MariaDB metadata whose password comes from ``SECRET``: no local paths
    allowed."""
    path = str(project / pipeline_file)
    return compile_kubeflow(load_pipeline(path), path, str(output), image=IMAGE, pipeline_root=pipeline_root,
                            metadata=metadata, metadata_secret=":".join(SECRET), project_dir=str(project))


def uri_folders(paths: Iterable[str]) -> list[str]:
    """The paths with a folder named like a URI scheme (``gs:``, ``s3:``...)."""
    return [p for p in paths if _URI_FOLDER.search(p)]


def uri_folders_under(*folders: str | os.PathLike[str]) -> list[str]:
    found = []
    for folder in folders:
        for current, dirs, _ in os.walk(folder):
            found.extend(os.path.join(current, d) for d in dirs if re.fullmatch(r"(gs|s3|s3a|hdfs):", d))
    return found
