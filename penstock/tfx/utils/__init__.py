"""``tfx.utils``: proto and JSON helpers TFX code imports."""

from penstock.tfx.utils.io_utils import parse_pbtxt_file
from penstock.tfx.utils.json_utils import JsonableType

__all__ = ["JsonableType", "parse_pbtxt_file"]
