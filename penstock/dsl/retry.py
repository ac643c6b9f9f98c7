"""Retry policy: explicit data describing how often a failed component is tried again."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; waits grow from ``backoff_seconds`` by
    ``backoff_multiplier`` up to ``max_backoff_seconds``. User mistakes (PenstockError other than
    ExecutionError) are never retried: trying again cannot fix them."""

    max_attempts: int = 1
    backoff_seconds: float = 1.0
    backoff_multiplier: float = 2.0
    max_backoff_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.backoff_seconds < 0:
            raise ValueError(f"RetryPolicy.backoff_seconds must be >= 0, got {self.backoff_seconds}")
