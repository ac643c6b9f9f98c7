"""TFX's DSL on penstock's: ``Pipeline``, ``Resolver`` with strategy classes, ``Channel``,
``Importer`` and the function-component decorator, with TFX's argument names and defaults."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from penstock.dsl import function_component as _functions
from penstock.dsl import resolver as _resolver
from penstock.dsl.artifact import Artifact
from penstock.dsl.channel import Channel as _Channel
from penstock.dsl.component import Component, ComponentSpec, OutputSpec
from penstock.dsl.node import Node
from penstock.dsl.parameter import Parameter
from penstock.dsl.pipeline import Pipeline as _Pipeline
from penstock.errors import PipelineDefinitionError
from penstock.tfx._nodes import TfxNodeMixin


# -- channels ---------------------------------------------------------------------------------------
def Channel(type: type[Artifact] | None = None, additional_properties: dict[str, Any] | None = None,
            additional_custom_properties: dict[str, Any] | None = None, artifacts: Any = None,
            producer_component_id: str | None = None, output_key: str | None = None,
            **kwargs: Any) -> _Channel:
    """TFX's ``Channel(type=...)``: artifacts of a type in ML Metadata (a Resolver's input)."""
    if type is None:
        type = kwargs.pop("type_name", None)
    if type is None:
        raise PipelineDefinitionError("Channel(type=...) needs an artifact type")
    channel = _Channel(type)
    # Kept for reading; penstock's resolvers consider every artifact of the type in the pipeline.
    channel.producer_component_id = producer_component_id  # type: ignore[attr-defined]
    return channel


# -- resolvers --------------------------------------------------------------------------------------
class ResolverStrategy(_resolver.ResolverStrategy):
    """Base of user strategies written for TFX: implement ``resolve_artifacts(store, input_dict)``
    returning the chosen artifacts per key (or None for "nothing")."""

    def __init__(self, **config: Any) -> None:
        self.config = config

    def resolve_artifacts(self, store: Any, input_dict: dict[str, list[Artifact]]) -> dict[str, list[Artifact]] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement resolve_artifacts(store, input_dict)")

    def resolve(self, store: Any, candidates: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        chosen = self.resolve_artifacts(store, candidates)
        return {key: [] for key in candidates} if chosen is None else chosen


class LatestArtifactStrategy(_resolver.LatestArtifact):
    """TFX's LatestArtifactStrategy: the newest artifact of each input."""

    def __init__(self, desired_num_of_artifacts: int = 1, **_: Any) -> None:
        self.desired = int(desired_num_of_artifacts)

    def resolve(self, store: Any, candidates: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        return {key: _resolver._newest(arts)[: self.desired] for key, arts in candidates.items()}


class LatestBlessedModelStrategy(_resolver.LatestBlessedModel):
    """TFX's LatestBlessedModelStrategy: the newest model a ModelBlessing blessed."""

    def __init__(self, **_: Any) -> None:
        pass


class SpanRangeStrategy(_resolver.ResolverStrategy):
    """TFX's SpanRangeStrategy: Examples whose span is in ``config['range_config']``."""

    def __init__(self, range_config: Any = None, **_: Any) -> None:
        if range_config is None:
            raise PipelineDefinitionError("SpanRangeStrategy needs config={'range_config': tfx.proto.RangeConfig(...)}")
        self.range_config = range_config

    def resolve(self, store: Any, candidates: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        out: dict[str, list[Artifact]] = {}
        for key, artifacts in candidates.items():
            spans = sorted({a.get_property("span") for a in artifacts if a.get_property("span") is not None})
            if self.range_config.HasField("static_range"):
                low = self.range_config.static_range.start_span_number
                high = self.range_config.static_range.end_span_number
            else:
                rolling = self.range_config.rolling_range
                high = spans[-1] if spans else 0
                low = max(rolling.start_span_number, high - max(rolling.num_spans, 1) + 1)
            newest: dict[int, Artifact] = {}
            for artifact in _resolver._newest(artifacts):
                span = artifact.get_property("span")
                if span is not None and low <= span <= high:
                    newest.setdefault(span, artifact)
            out[key] = [newest[s] for s in sorted(newest)]
        return out


class Resolver(TfxNodeMixin, _resolver.Resolver):
    """TFX's ``Resolver(strategy_class=..., config={...}, **channels)``."""

    def __init__(self, strategy_class: type | None = None, config: dict[str, Any] | None = None,
                 **channels: Any) -> None:
        if strategy_class is None:
            raise PipelineDefinitionError("Resolver needs strategy_class (e.g. tfx.dsl.experimental.LatestArtifactStrategy)")
        if not (isinstance(strategy_class, type) and issubclass(strategy_class, _resolver.ResolverStrategy)):
            raise PipelineDefinitionError(
                f"Resolver strategy_class must be a ResolverStrategy class such as LatestBlessedModelStrategy, "
                f"got {strategy_class!r:.80}"
            )
        super().__init__(strategy_class(**dict(config or {})), **channels)


# -- importer ---------------------------------------------------------------------------------------
class Importer(TfxNodeMixin, Component):
    """TFX's Importer: an artifact of ``artifact_type`` from files outside the pipeline
    (``outputs['result']``). penstock copies ``source_uri`` under the pipeline root, so the
    artifact lives and is cached like any other; a changed source is imported again."""

    EXECUTOR = "penstock.tfx._dsl:run_importer"
    FILE_ACCESS = ("penstock",)

    def __init__(self, source_uri: str, artifact_type: type[Artifact], reimport: bool = False,
                 properties: dict[str, Any] | None = None, custom_properties: dict[str, Any] | None = None,
                 output_key: str = "result") -> None:
        self.SPEC = ComponentSpec(
            outputs={output_key: OutputSpec(artifact_type)},
            parameters={"source_uri": Parameter(str), "reimport": Parameter(bool, default=False),
                        "properties": Parameter(dict, default={}), "custom_properties": Parameter(dict, default={}),
                        "output_key": Parameter(str, default="result")},
        )
        super().__init__(id="Importer", source_uri=source_uri, reimport=reimport, properties=dict(properties or {}),
                         custom_properties=dict(custom_properties or {}), output_key=output_key)
        if reimport:
            self.with_cache(False)

    def external_inputs(self) -> dict[str, str]:
        from penstock.storage import filesystem

        source = self.parameters["source_uri"]
        if filesystem.is_remote(source) or not filesystem.exists(source):
            return {"source_uri": source}
        entries = filesystem.list_files(source) if filesystem.is_dir(source) else filesystem.file_entries([source])
        return {"source_uri": source, "files": ",".join(f"{e.path}:{e.size}:{e.mtime_ns}" for e in entries)}


def run_importer(ctx: Any) -> None:
    from penstock.errors import InputDataError
    from penstock.storage import filesystem

    params = ctx.parameters
    source, artifact = params["source_uri"], ctx.output(params["output_key"])
    if not filesystem.exists(source):
        raise InputDataError(f"{ctx.component_id}: source_uri {source} does not exist")
    if filesystem.is_dir(source):
        filesystem.copy_tree(source, artifact.uri)
    else:
        filesystem.copy_file(source, filesystem.join(artifact.uri, filesystem.basename(source)))
    for name, value in params["properties"].items():
        artifact.set_property(name, value)
    artifact.custom_properties.update(params["custom_properties"])
    artifact.custom_properties["imported_from"] = source


# -- pipelines --------------------------------------------------------------------------------------
class ExecutionMode(enum.Enum):
    SYNC = 1
    ASYNC = 2


def metadata_config(config: Any) -> Any:
    """penstock's metadata config from TFX's: an ML Metadata ConnectionConfig message (what
    TFX's helpers return), penstock's own, or a path."""
    from penstock.metadata import connection

    if config is None or isinstance(config, (str, connection.SqliteConfig, connection.MysqlConfig)):
        return config
    kind = config.WhichOneof("config") if hasattr(config, "WhichOneof") else None
    if kind == "sqlite":
        return connection.sqlite(config.sqlite.filename_uri)
    if kind == "mysql":
        mysql = config.mysql
        return connection.mysql(mysql.host, mysql.database, user=mysql.user, password=mysql.password,
                                port=mysql.port or 3306)
    raise PipelineDefinitionError(f"metadata_connection_config: unsupported ML Metadata connection {config!r:.120}")


class Pipeline(_Pipeline):
    """TFX's ``Pipeline(pipeline_name=..., pipeline_root=..., components=[...])``. Caching is off
    unless ``enable_cache=True``, as in TFX."""

    def __init__(self, pipeline_name: str, pipeline_root: str | None = None,
                 components: Sequence[Node] | None = None, enable_cache: bool = False,
                 metadata_connection_config: Any = None, beam_pipeline_args: list[str] | None = None,
                 platform_config: Any = None, execution_mode: ExecutionMode | None = ExecutionMode.SYNC,
                 **kwargs: Any) -> None:
        if execution_mode is ExecutionMode.ASYNC:
            raise PipelineDefinitionError("penstock runs pipelines synchronously; ExecutionMode.ASYNC is not supported")
        super().__init__(pipeline_name, list(components or []), pipeline_root=pipeline_root,
                         metadata=metadata_config(metadata_connection_config),
                         beam_pipeline_args=beam_pipeline_args, enable_cache=enable_cache)

    @property
    def pipeline_name(self) -> str:
        return self.name


# -- function components ---------------------------------------------------------------------------
def component(func: Callable[..., Any] | None = None, *, component_annotation: Any = None,
              use_beam: bool = False) -> Any:
    """TFX's ``@component`` decorator (``component_annotation`` is accepted and ignored)."""
    if use_beam:
        raise PipelineDefinitionError(
            "@component(use_beam=True) is not supported by penstock.tfx yet: build the Beam pipeline in the "
            "function with penstock.beam.pipeline.make_pipeline([...])"
        )
    return _functions.component(func) if func is not None else _functions.component


InputArtifact = _functions.InputArtifact
OutputArtifact = _functions.OutputArtifact
OutputDict = _functions.OutputDict
AsyncOutputArtifact = _functions.OutputArtifact


class BeamComponentParameter:
    """Annotation of a function component's Beam pipeline argument (``use_beam=True``)."""

    def __class_getitem__(cls, item: Any) -> Any:
        return cls


class RuntimeParameter:
    """TFX's run-time parameter (set when a compiled pipeline is launched). penstock resolves
    parameters when the pipeline is declared: use the ``default``."""

    def __init__(self, name: str, ptype: type | None = None, default: Any = None, description: str | None = None) -> None:
        raise PipelineDefinitionError(
            f"RuntimeParameter {name!r}: penstock takes parameter values when the pipeline is declared; pass "
            f"the value ({default!r}) directly, or read it from the environment in the pipeline file"
        )


def create_container_component(name: str, image: str, command: list[Any], inputs: Any = None, outputs: Any = None,
                               parameters: Any = None) -> Any:
    raise PipelineDefinitionError(
        f"create_container_component({name!r}): penstock runs Python components; wrap the container's work in a "
        "@component function (e.g. subprocess.run) or run the pipeline with TFX's own Kubeflow runner"
    )
