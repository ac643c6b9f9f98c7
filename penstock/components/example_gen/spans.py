"""Resolving ExampleGen input patterns with ``{SPAN}``, ``{VERSION}`` and date placeholders.

As in TFX: a span is a batch of data (a day, a week), a version a re-delivery of that span.
``{YYYY}``/``{MM}``/``{DD}`` name a day; its span number is the day count since 1970-01-01.
By default the latest span (and within it the latest version) is taken; a single span or an
inclusive span range can be asked for.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from penstock.errors import InputDataError, PipelineDefinitionError
from penstock.storage import filesystem

_EPOCH = datetime.date(1970, 1, 1)
_PLACEHOLDERS = {
    "{SPAN}": r"(?P<span>\d+)",
    "{VERSION}": r"(?P<version>\d+)",
    "{YYYY}": r"(?P<year>\d{4})",
    "{MM}": r"(?P<month>\d{2})",
    "{DD}": r"(?P<day>\d{2})",
}


# The files each ExampleGen reads when the user gives no pattern.
DEFAULT_PATTERNS = {"csv": "*.csv", "parquet": "*.parquet", "tfrecord": "*"}


@dataclasses.dataclass(frozen=True)
class ResolvedInput:
    """Files per input split (``""`` when the input is not pre-split) for the chosen span(s)."""

    files: dict[str, list[str]]
    span: int
    version: int | None
    spans: list[int]


def check_pattern(pattern: str) -> None:
    """Raise PipelineDefinitionError for placeholder combinations that cannot be resolved."""
    has_span = "{SPAN}" in pattern
    has_date = any(p in pattern for p in ("{YYYY}", "{MM}", "{DD}"))
    if has_span and has_date:
        raise PipelineDefinitionError(f"input pattern {pattern!r}: use either {{SPAN}} or date placeholders, not both")
    if has_date and not all(p in pattern for p in ("{YYYY}", "{MM}", "{DD}")):
        raise PipelineDefinitionError(f"input pattern {pattern!r}: a date needs all of {{YYYY}}, {{MM}} and {{DD}}")
    if "{VERSION}" in pattern and not (has_span or has_date):
        raise PipelineDefinitionError(f"input pattern {pattern!r}: {{VERSION}} needs {{SPAN}} or a date too")


def _glob_and_regex(pattern: str) -> tuple[str, re.Pattern[str]]:
    glob_pattern = pattern
    for placeholder in _PLACEHOLDERS:
        glob_pattern = glob_pattern.replace(placeholder, "*")
    regex = ""
    for token in re.split(r"(\{SPAN\}|\{VERSION\}|\{YYYY\}|\{MM\}|\{DD\}|\*\*|\*|\?)", pattern):
        if token in _PLACEHOLDERS:
            regex += _PLACEHOLDERS[token]
        elif token == "**":
            regex += ".*"
        elif token == "*":
            regex += "[^/]*"
        elif token == "?":
            regex += "[^/]"
        else:
            regex += re.escape(token)
    return glob_pattern, re.compile(regex + "$")


def _span_of(match: re.Match[str], pattern: str, path: str) -> tuple[int, int | None]:
    groups = match.groupdict()
    version = int(groups["version"]) if groups.get("version") is not None else None
    if groups.get("span") is not None:
        return int(groups["span"]), version
    if groups.get("year") is not None:
        try:
            day = datetime.date(int(groups["year"]), int(groups["month"]), int(groups["day"]))
        except ValueError as e:
            raise InputDataError(f"{path}: matches {pattern!r} but is not a valid date ({e})") from None
        return (day - _EPOCH).days, version
    return 0, version


def _matches(input_base: str, pattern: str, remote_files: list[str] | None) -> list[tuple[int, int | None, str]]:
    """(span, version, path) of the files matching ``pattern``: globbed under a local folder,
    or picked from ``remote_files`` (the bucket folder's listing)."""
    glob_pattern, regex = _glob_and_regex(pattern)
    if remote_files is not None:
        candidates = remote_files
    else:
        candidates = [p for p in glob.glob(os.path.join(input_base, glob_pattern), recursive=True) if os.path.isfile(p)]
    found = []
    for path in sorted(candidates):
        match = regex.match(filesystem.relative_to(path, input_base))
        if match:
            span, version = _span_of(match, pattern, path)
            found.append((span, version, path))
    return found


def resolve(
    input_base: str,
    patterns: dict[str, str],
    span: int | None = None,
    span_range: list[int] | None = None,
    version: int | None = None,
) -> ResolvedInput:
    """Pick the files to read: per split pattern, those of the selected span(s) and version."""
    if span_range is not None and (len(span_range) != 2 or span_range[0] > span_range[1]):
        raise PipelineDefinitionError(f"span_range must be [first, last] with first <= last, got {span_range}")
    if span_range is not None and span is not None:
        raise PipelineDefinitionError("give either span or span_range, not both")
    if not filesystem.is_dir(input_base):
        raise InputDataError(f"input folder {input_base!r} does not exist (input_base of the ExampleGen)")
    remote_files = (
        [entry.path for entry in filesystem.list_files(input_base)] if filesystem.is_remote(input_base) else None
    )  # listed once for every split's pattern: each listing is a round trip per page of a bucket
    found = {split: _matches(input_base, pattern, remote_files) for split, pattern in patterns.items()}
    for split, matches in found.items():
        if not matches:
            listing = filesystem.list_names(input_base)[:10]
            raise InputDataError(
                f"input pattern {patterns[split]!r} matches no file under {input_base!r} "
                f"(it holds: {', '.join(listing) or 'nothing'})"
            )
    first_split = next(iter(patterns))
    available = sorted({s for s, _, _ in found[first_split]})
    if span_range is not None:
        lo, hi = span_range
        chosen = [s for s in available if lo <= s <= hi]
        if not chosen:
            raise InputDataError(f"no span in range [{lo}, {hi}] under {input_base!r}; available spans: {available}")
    elif span is not None:
        if span not in available:
            raise InputDataError(f"span {span} not found under {input_base!r}; available spans: {available}")
        chosen = [span]
    else:
        chosen = [available[-1]]

    files: dict[str, list[str]] = {}
    picked_version: int | None = None
    for split, matches in found.items():
        paths: list[str] = []
        for s in chosen:
            of_span = [(v, p) for sp, v, p in matches if sp == s]
            if not of_span:
                raise InputDataError(f"split {split!r} (pattern {patterns[split]!r}) has no file for span {s}")
            versions = sorted({v for v, _ in of_span if v is not None})
            if versions:
                want = version if version is not None else versions[-1]
                if want not in versions:
                    raise InputDataError(f"span {s} has no version {want} under {input_base!r}; available: {versions}")
                of_span = [(v, p) for v, p in of_span if v == want]
                picked_version = want
            paths += [p for _, p in of_span]
        files[split] = paths
    return ResolvedInput(files=files, span=chosen[-1], version=picked_version, spans=chosen)


def input_patterns(parameters: Mapping[str, Any], source: str) -> dict[str, str]:
    """Pattern per input split (``""`` when the input is not pre-split) from an ExampleGen's
    parameters, checked."""
    patterns = dict(parameters["input_splits"]) or {
        "": parameters["input_pattern"] or DEFAULT_PATTERNS[source]
    }
    for pattern in patterns.values():
        check_pattern(pattern)
    return patterns


def resolve_parameters(parameters: Mapping[str, Any], source: str) -> ResolvedInput:
    """The files an ExampleGen with these parameters reads now."""
    return resolve(
        parameters["input_base"],
        input_patterns(parameters, source),
        span=parameters["span"],
        span_range=parameters["span_range"],
        version=parameters["version"],
    )


def fingerprint(resolved: ResolvedInput, input_base: str) -> dict[str, str]:
    """What identifies the input data for an ExampleGen's cache key: the span and version
    chosen, and per split the files' names, sizes and modification times (as TFX's input
    fingerprint), so new or rewritten files make the next run read them again."""
    out = {"span": str(resolved.span), "version": str(resolved.version)}
    if len(resolved.spans) > 1:
        out["spans"] = ",".join(map(str, resolved.spans))
    for split, paths in resolved.files.items():
        digest = hashlib.sha256()
        total = 0
        for entry, path in zip(filesystem.file_entries(paths), paths):
            total += entry.size
            digest.update(f"{filesystem.relative_to(path, input_base)}\0{entry.size}\0{entry.mtime_ns}\n".encode())
        name = f"files[{split}]" if split else "files"
        out[name] = f"{len(paths)} file(s), {total:,} bytes, {digest.hexdigest()[:16]}"
    return out
