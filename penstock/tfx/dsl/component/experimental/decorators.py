"""``tfx.dsl.component.experimental.decorators``: the function-component decorator."""

from penstock.dsl.function_component import FunctionComponent as BaseFunctionalComponent
from penstock.tfx._dsl import component

__all__ = ["BaseFunctionalComponent", "component"]
