"""``tfx.orchestration``: ``LocalDagRunner``, ``metadata`` helpers, ``experimental`` (the
Kubeflow V2 runner, which writes penstock's KFP spec), ``pipeline`` (TFX's Pipeline module)."""

from penstock.tfx._lazy import lazy_attributes

_NAMES = {"LocalDagRunner": ("penstock.tfx._runners", "LocalDagRunner")}
_SUBMODULES = ("beam", "experimental", "kubeflow", "local", "metadata", "pipeline")
__all__ = sorted([*_NAMES, *_SUBMODULES])
__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, _SUBMODULES)
