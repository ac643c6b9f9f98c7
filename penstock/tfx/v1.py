"""``tfx.v1``: ``import penstock.tfx.v1 as tfx`` is ``from penstock import tfx``."""

from __future__ import annotations

from typing import Any

import penstock.tfx as _tfx


def __getattr__(name: str) -> Any:
    return getattr(_tfx, name)
