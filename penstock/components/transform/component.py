"""Transform: feature engineering with tf.Transform, frozen into a graph the model serves with.

The user's ``preprocessing_fn(inputs) -> outputs`` is analyzed (full passes such as means and
vocabularies) on the train split and applied to every split on Beam. The analysis results are
frozen into ``transform_fn`` (a SavedModel) so that serving applies exactly the same
transformation as training: the Trainer's export helper embeds it in the served model and the
Trainer verifies it (see ``penstock.components.trainer.skew_check``).

Output layout (TFX's): ``transform_graph`` holds ``transform_fn/``, ``transformed_metadata/`` and
the raw ``metadata/`` (so ``tft.TFTransformOutput(uri).raw_feature_spec()`` works), plus
``penstock_skew_sample/`` (raw eval rows paired with their Beam-transformed features) and, when
``compute_statistics`` is on, ``pre_transform_stats/`` and ``post_transform_stats/``.
"""

from __future__ import annotations

from typing import Any

from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import Examples, Schema, TransformCache, TransformGraph
from penstock.errors import PipelineDefinitionError
from penstock.runtime.user_functions import require_one_source


class Transform(Component):
    """Run a tf.Transform ``preprocessing_fn``: analyze on train, transform every split.

    Give either ``module_file`` (a ``.py`` file defining ``preprocessing_fn``) or
    ``preprocessing_fn`` (``"package.module.function"`` or ``"path/file.py:function"``).
    Several ``examples`` artifacts (spans) are analyzed together; the latest one is transformed.
    ``analyzer_cache`` (a previous run's ``updated_analyzer_cache``) skips re-analyzing spans
    already seen.
    """

    SPEC = ComponentSpec(
        inputs={
            "examples": InputSpec(Examples),
            "schema": InputSpec(Schema),
            "analyzer_cache": InputSpec(TransformCache, optional=True),
        },
        outputs={
            "transform_graph": OutputSpec(TransformGraph),
            "transformed_examples": OutputSpec(Examples),
            "updated_analyzer_cache": OutputSpec(TransformCache),
        },
        parameters={
            "module_file": Parameter(str | None, default=None, user_code=True,
                                     description="file defining preprocessing_fn"),
            "preprocessing_fn": Parameter(str | None, default=None, user_code=True,
                                          description="'package.module.function' or 'file.py:function'"),
            "analyze_splits": Parameter(list[str], default=["train"]),
            "transform_splits": Parameter(list[str], default=[], description="empty: every split"),
            "compute_statistics": Parameter(bool, default=False,
                                            description="pre/post-transform TFDV statistics"),
            "skew_sample_rows": Parameter(int, default=200,
                                          description="eval rows kept raw+transformed for the skew check"),
        },
    )
    EXECUTOR = "penstock.components.transform.executor:run"
    HEAVY_MODULES = ("tensorflow_transform", "tensorflow_transform.beam")
    USES_BEAM = True
    FILE_ACCESS = ("penstock", "beam", "tensorflow")
    VERSION = "1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require_one_source(self.id, self.parameters, "preprocessing_fn")
        if self.parameters["skew_sample_rows"] < 0:
            raise PipelineDefinitionError(f"{self.id}: skew_sample_rows must be >= 0")
