"""Reading and writing tensorflow_metadata Schema files, with errors that name the file.

Shared by SchemaGen, ImportSchemaGen, ExampleValidator, StatisticsGen and CsvExampleGen (which
takes column types from a user schema).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from penstock.errors import InputDataError

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2

SCHEMA_FILE = "schema.pbtxt"


def load_schema(path: str) -> schema_pb2.Schema:
    """A Schema from a text-format file, or from the schema.pbtxt inside a Schema artifact dir."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    if os.path.isdir(path):
        path = os.path.join(path, SCHEMA_FILE)
    if not os.path.isfile(path):
        raise InputDataError(f"schema file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(text, schema)
    except text_format.ParseError as e:
        raise InputDataError(f"{path}: not a valid text-format tensorflow_metadata Schema: {e}") from None
    if not schema.feature and not schema.sparse_feature:
        raise InputDataError(f"{path}: the schema declares no feature")
    return schema


def write_schema(schema: schema_pb2.Schema, directory: str) -> str:
    from google.protobuf import text_format

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, SCHEMA_FILE)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(schema))
    return path
