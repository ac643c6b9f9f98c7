"""Schema: a tensorflow_metadata Schema in text format, ``<uri>/schema.pbtxt`` (or any schema
file a user names), with errors that name the file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from penstock.errors import InputDataError
from penstock.storage import filesystem, layout

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2


def load(uri: str) -> schema_pb2.Schema:
    """The Schema in a text-format file, or in the schema.pbtxt of a Schema artifact's folder."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = filesystem.join(uri, layout.SCHEMA_FILE) if filesystem.is_dir(uri) else uri
    try:
        text = filesystem.read_text(path)
    except FileNotFoundError:
        raise InputDataError(f"schema file {path!r} does not exist") from None
    except UnicodeDecodeError as e:
        raise InputDataError(f"{path}: not a text-format Schema (not UTF-8: {e})") from None
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(text, schema)
    except text_format.ParseError as e:
        raise InputDataError(f"{path}: not a valid text-format tensorflow_metadata Schema: {e}") from None
    if not schema.feature and not schema.sparse_feature:
        raise InputDataError(f"{path}: the schema declares no feature")
    return schema


def save(artifact_uri: str, schema: schema_pb2.Schema) -> str:
    from google.protobuf import text_format

    path = filesystem.join(artifact_uri, layout.SCHEMA_FILE)
    filesystem.write_text(path, text_format.MessageToString(schema))
    return path
