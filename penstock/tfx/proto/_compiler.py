"""Builds message classes from penstock's own ``.proto`` text at import time.

``penstock.tfx.proto`` defines TFX's configuration messages (``Input``, ``SplitConfig``,
``TrainArgs``, ``PushDestination``, ...) with TFX's field names and numbers, so a pipeline file
written for TFX builds the same messages and their JSON and text forms read the same. The
``tfx`` package does not install on Python 3.11, and penstock ships no generated code or
``protoc``: the definitions are written in a small subset of the proto3 language (messages,
nested messages, enums, ``repeated``, ``map<k, v>``, ``oneof``, ``reserved``, references to
messages of other loaded files) and turned into descriptors here.
"""

from __future__ import annotations

import re
from typing import Any

_SCALARS = {
    "double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "bool": 8, "string": 9,
    "bytes": 12, "uint32": 13,
}
_TOKEN = re.compile(r"\s*(//[^\n]*|[A-Za-z_][A-Za-z0-9_.]*|-?\d+|[{}=;<>,])")


class ProtoSyntaxError(ValueError):
    """The embedded definition does not parse (a bug in penstock, caught by its tests)."""


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ProtoSyntaxError(f"unexpected text: {text[pos:pos + 40]!r}")
        pos = match.end()
        if not match.group(1).startswith("//"):
            out.append(match.group(1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if expected is not None and token != expected:
            raise ProtoSyntaxError(f"expected {expected!r}, got {token!r} (token {self.i})")
        self.i += 1
        return token

    def skip_statement(self) -> None:
        while self.take() != ";":
            pass

    def message(self, proto: Any) -> None:
        proto.name = self.take()
        self.take("{")
        oneof_index: int | None = None
        while self.peek() != "}":
            token = self.peek()
            if token == "message":
                self.take()
                self.message(proto.nested_type.add())
            elif token == "enum":
                self.take()
                self.enum(proto.enum_type.add())
            elif token == "reserved":
                self.skip_statement()
            elif token == "oneof":
                self.take()
                proto.oneof_decl.add().name = self.take()
                oneof_index = len(proto.oneof_decl) - 1
                self.take("{")
                while self.peek() != "}":
                    self.field(proto, oneof_index)
                self.take("}")
            else:
                self.field(proto, None)
        self.take("}")

    def field(self, proto: Any, oneof_index: int | None) -> None:
        label = 1  # LABEL_OPTIONAL
        if self.peek() == "repeated":
            self.take()
            label = 3
        elif self.peek() == "optional":
            self.take()
        if self.peek() == "map":
            self.map_field(proto)
            return
        kind = self.take()
        name = self.take()
        self.take("=")
        number = int(self.take())
        self.take(";")
        field = proto.field.add(name=name, number=number, label=label)
        _set_type(field, kind)
        if oneof_index is not None:
            field.oneof_index = oneof_index

    def map_field(self, proto: Any) -> None:
        self.take("map")
        self.take("<")
        key = self.take()
        self.take(",")
        value = self.take()
        self.take(">")
        name = self.take()
        self.take("=")
        number = int(self.take())
        self.take(";")
        entry = proto.nested_type.add(name="".join(p.capitalize() for p in name.split("_")) + "Entry")
        entry.options.map_entry = True
        _set_type(entry.field.add(name="key", number=1, label=1), key)
        _set_type(entry.field.add(name="value", number=2, label=1), value)
        field = proto.field.add(name=name, number=number, label=3)
        field.type = 11
        field.type_name = entry.name  # resolved with the others below

    def enum(self, proto: Any) -> None:
        proto.name = self.take()
        self.take("{")
        while self.peek() != "}":
            if self.peek() == "reserved":
                self.skip_statement()
                continue
            name = self.take()
            self.take("=")
            proto.value.add(name=name, number=int(self.take()))
            self.take(";")
        self.take("}")


def _set_type(field: Any, kind: str) -> None:
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
    else:
        field.type_name = kind  # a message or enum: type and full name resolved below


def _declared(prefix: str, messages: Any, enums: Any, out: dict[str, int]) -> None:
    for enum in enums:
        out[f"{prefix}.{enum.name}"] = 14
    for message in messages:
        name = f"{prefix}.{message.name}"
        out[name] = 11
        _declared(name, message.nested_type, message.enum_type, out)


def _resolve(scope: str, messages: Any, known: dict[str, int]) -> None:
    for message in messages:
        inner = f"{scope}.{message.name}"
        for field in message.field:
            if not field.type_name or field.type_name.startswith("."):
                continue
            candidates = []
            parts = inner.split(".")
            while parts:  # innermost scope first, as protoc resolves names
                candidates.append(".".join([*parts, field.type_name]))
                parts.pop()
            candidates.append("." + field.type_name)
            found = next((c for c in candidates if c in known), None)
            if found is None:
                raise ProtoSyntaxError(f"{inner}.{field.name}: unknown type {field.type_name}")
            field.type_name = found
            field.type = known[found]
        _resolve(inner, message.nested_type, known)


def build_file(name: str, package: str, text: str, dependencies: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register the definitions in ``text`` (file ``name``, proto package ``package``) in the
    default descriptor pool; return their message classes and enum wrappers by name.

    ``dependencies`` maps an imported file's name to a generated module of it (e.g.
    ``google.protobuf.any_pb2``), so fields may name its messages by full name."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf.internal import enum_type_wrapper

    pool = descriptor_pool.Default()
    try:
        existing = pool.FindFileByName(name)
    except KeyError:
        existing = None
    if existing is None:
        proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
        known: dict[str, int] = {}
        for dependency, module in (dependencies or {}).items():
            proto.dependency.append(dependency)
            file_proto = descriptor_pb2.FileDescriptorProto()
            module.DESCRIPTOR.CopyToProto(file_proto)
            _declared("." + file_proto.package, file_proto.message_type, file_proto.enum_type, known)
        parser = _Parser(text)
        while parser.peek():
            keyword = parser.take()
            if keyword == "message":
                parser.message(proto.message_type.add())
            elif keyword == "enum":
                parser.enum(proto.enum_type.add())
            else:
                raise ProtoSyntaxError(f"{name}: unexpected {keyword!r} at top level")
        _declared("." + package, proto.message_type, proto.enum_type, known)
        _resolve("." + package, proto.message_type, known)
        existing = pool.AddSerializedFile(proto.SerializeToString())
    result: dict[str, Any] = {}
    for message_name, descriptor in existing.message_types_by_name.items():
        result[message_name] = message_factory.GetMessageClass(descriptor)
    for enum_name, descriptor in existing.enum_types_by_name.items():
        wrapper = enum_type_wrapper.EnumTypeWrapper(descriptor)
        result[enum_name] = wrapper
        for value in descriptor.values:
            result[value.name] = value.number  # top-level enum values, as generated modules have
    return result
