"""``tfx.utils.io_utils``: text-format protos and small files by URI."""

from __future__ import annotations

from typing import Any

from penstock.storage import filesystem


def parse_pbtxt_file(file_name: str, message: Any) -> Any:
    from google.protobuf import text_format

    text_format.Parse(filesystem.read_text(file_name), message)
    return message


def write_pbtxt_file(file_name: str, proto: Any) -> None:
    from google.protobuf import text_format

    filesystem.write_text(file_name, text_format.MessageToString(proto))


def write_string_file(file_name: str, string_value: str) -> None:
    filesystem.write_text(file_name, string_value)


def read_string_file(file_name: str) -> str:
    return filesystem.read_text(file_name)


def get_only_uri_in_dir(dir_path: str) -> str:
    names = [n for n in filesystem.list_names(dir_path) if not n.startswith(".")]
    if len(names) != 1:
        raise RuntimeError(f"{dir_path} holds {len(names)} files, expected one: {names}")
    return filesystem.join(dir_path, names[0])
