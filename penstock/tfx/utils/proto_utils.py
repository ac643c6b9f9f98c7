"""``tfx.utils.proto_utils``: protos to and from TFX's JSON form."""

from __future__ import annotations

from typing import Any


def proto_to_json(proto: Any) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(proto, sort_keys=True, preserving_proto_field_name=True)


def json_to_proto(json_str: str, proto: Any) -> Any:
    from google.protobuf import json_format

    json_format.Parse(json_str, proto)
    return proto


def proto_to_dict(proto: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(proto, preserving_proto_field_name=True)


def dict_to_proto(json_dict: dict[str, Any], proto: Any) -> Any:
    from google.protobuf import json_format

    json_format.ParseDict(json_dict, proto)
    return proto
