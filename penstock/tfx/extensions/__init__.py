"""``tfx.extensions``: Google Cloud extensions are not part of penstock."""

from penstock.errors import PipelineDefinitionError


def __getattr__(name: str) -> object:
    raise PipelineDefinitionError(f"tfx.extensions.{name} (Google Cloud AI Platform / BigQuery) is not available in "
                                  "penstock.tfx; run those components with TFX itself")
