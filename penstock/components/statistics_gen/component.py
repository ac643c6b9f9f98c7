"""StatisticsGen: TFDV statistics for every split of an Examples artifact."""

from __future__ import annotations

from typing import Optional

from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import Examples, ExampleStatistics, Schema


class StatisticsGen(Component):
    """TFDV statistics per split (``<uri>/Split-<name>/FeatureStats.pb``), schema-aware when a
    schema is given (e.g. to know which int features are categorical)."""

    SPEC = ComponentSpec(
        inputs={"examples": InputSpec(Examples), "schema": InputSpec(Schema, optional=True)},
        outputs={"statistics": OutputSpec(ExampleStatistics)},
        parameters={
            "exclude_splits": Parameter(list[str], default=[]),
            "sample_rate": Parameter(
                Optional[float], default=None, description="compute statistics on this fraction of examples"
            ),
        },
    )
    EXECUTOR = "penstock.components.statistics_gen.executor:run"
    HEAVY_MODULES = ("tensorflow_data_validation",)
    USES_BEAM = True
    FILE_ACCESS = ("penstock", "beam")
    VERSION = "1"
