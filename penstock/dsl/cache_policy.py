"""How a component's executions are cached, as explicit data attached to the component
(``Component.with_cache``); the key an execution is cached under is ``penstock.runtime.cache_key``."""

from __future__ import annotations

import dataclasses

# Beam flags that change how fast a pipeline runs, never what it computes.
RESULT_NEUTRAL_BEAM_FLAGS: tuple[str, ...] = (
    "--direct_num_workers",
    "--direct_running_mode",
    "--job_name",
    "--temp_location",
    "--staging_location",
    "--num_workers",
    "--max_num_workers",
    "--machine_type",
    "--worker_machine_type",
    "--parallelism",
    "--job_endpoint",
    "--environment_type",
    "--environment_config",
    "--experiments",
    "--region",
    "--project",
)


@dataclasses.dataclass(frozen=True)
class CachePolicy:
    """How a component's executions are cached.

    ``enabled``: reuse outputs of an earlier execution with the same key.
    ``include_user_code``: fingerprint user code (turn off only for code that never changes).
    ``ignored_beam_flags``: runner flags left out of the key because they cannot change results.
    """

    enabled: bool = True
    include_user_code: bool = True
    ignored_beam_flags: tuple[str, ...] = RESULT_NEUTRAL_BEAM_FLAGS

    def relevant_beam_args(self, args: list[str]) -> list[str]:
        kept = []
        for arg in args:
            flag = arg.split("=", 1)[0]
            if flag not in self.ignored_beam_flags:
                kept.append(arg)
        return kept
