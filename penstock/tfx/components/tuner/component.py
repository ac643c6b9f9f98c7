"""``tfx.components.tuner.component``: the Tuner and what ``tuner_fn`` returns."""

from penstock.components.tuner.component import TunerFnResult
from penstock.tfx.components._standard import Tuner

__all__ = ["Tuner", "TunerFnResult"]
