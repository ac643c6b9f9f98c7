"""Assigning each example to a split, deterministically.

Hash buckets as in TFX: a stable hash of the serialized example (or of one key column's
value, so that all rows of one user, say, land in the same split) modulo the bucket total;
the same input always gives the same splits, on any machine and any runner. Alternatively an
existing column names each row's split.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from penstock.errors import PipelineDefinitionError

if TYPE_CHECKING:
    import numpy as np


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Picklable split rule, shipped to Beam workers."""

    names: tuple[str, ...]
    buckets: tuple[int, ...] = ()
    key: str | None = None  # hash this column's value instead of the whole example
    column: str | None = None  # the split is named by this column's value

    @staticmethod
    def from_parameters(output_splits: dict[str, int], split_key: str | None, split_column: str | None) -> SplitConfig:
        if split_column:
            return SplitConfig(names=(), column=split_column)
        if not output_splits:
            raise PipelineDefinitionError("output_splits must name at least one split")
        for name, count in output_splits.items():
            if not isinstance(count, int) or count <= 0:
                raise PipelineDefinitionError(f"output_splits[{name!r}] must be a positive bucket count, got {count!r}")
        return SplitConfig(names=tuple(output_splits), buckets=tuple(output_splits.values()), key=split_key)

    def bucket_of(self, keys: Sequence[bytes]) -> np.ndarray:
        """Split index per row from the bytes that identify each row."""
        import numpy as np

        return self.bucket_of_hashes(np.fromiter((zlib.crc32(k) for k in keys), np.uint32, len(keys)))

    def bucket_of_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """Split index per row from the CRC-32 of the bytes that identify each row."""
        import numpy as np

        total = sum(self.buckets)
        bounds = np.cumsum(self.buckets)
        lookup = np.searchsorted(bounds, np.arange(total), side="right")  # bucket -> split index
        return lookup[hashes.astype(np.int64) % total]


def key_bytes(values: list[Any]) -> list[bytes]:
    """A column's per-row values (one-value lists, or None) as hashable bytes."""
    out = []
    for v in values:
        if isinstance(v, list):
            v = v[0] if len(v) == 1 else v
        if isinstance(v, bytes):
            out.append(v)
        else:
            out.append(repr(v).encode())
    return out
