"""Reads the TFDV protos a run wrote (statistics and anomalies) into plain dicts for the report.

ExampleStatistics hold a tensorflow_metadata ``DatasetFeatureStatisticsList`` per split in
``<uri>/Split-<name>/FeatureStats.pb``; ExampleAnomalies an ``Anomalies`` proto in
``<uri>/Split-<name>/SchemaDiff.pb``. A missing or unreadable file becomes a message shown in
the report, never an exception: a report must render for a half-finished run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from google.protobuf.message import DecodeError

from penstock.dsl.artifact import Artifact

STATS_FILE = "FeatureStats.pb"
ANOMALIES_FILE = "SchemaDiff.pb"
_MAX_TOP_VALUES = 12


def split_names(artifact: Artifact, filename: str) -> list[str]:
    """Declared splits, else whatever ``Split-*`` directories hold ``filename``."""
    declared = artifact.split_names
    if declared:
        return declared
    try:
        entries = sorted(os.listdir(artifact.uri))
    except OSError:
        return []
    return [e[len("Split-"):] for e in entries
            if e.startswith("Split-") and os.path.exists(os.path.join(artifact.uri, e, filename))]


def _feature_name(feature: Any) -> str:
    if feature.HasField("path") and feature.path.step:
        return ".".join(feature.path.step)
    return str(feature.name)


def _common(feature: Any) -> Any:
    for field in ("num_stats", "string_stats", "bytes_stats", "struct_stats"):
        if feature.HasField(field):
            return getattr(feature, field).common_stats
    return None


def _feature_view(feature: Any, num_examples: int, type_names: dict[int, str]) -> dict[str, Any]:
    common = _common(feature)
    missing = int(common.num_missing) if common is not None else 0
    present = int(common.num_non_missing) if common is not None else 0
    total = num_examples or (missing + present)
    view: dict[str, Any] = {
        "type": type_names.get(feature.type, str(feature.type)),
        "num_non_missing": present,
        "num_missing": missing,
        "missing_pct": round(100.0 * missing / total, 2) if total else 0.0,
        "kind": "other",
    }
    if feature.HasField("num_stats"):
        num = feature.num_stats
        histogram = next((h for h in num.histograms if h.type == h.STANDARD), None)
        buckets = []
        if histogram is not None:
            counted = sum(b.sample_count for b in histogram.buckets) or 1.0
            buckets = [
                {"low": b.low_value, "high": b.high_value, "count": b.sample_count,
                 "fraction": b.sample_count / counted}
                for b in histogram.buckets
            ]
        view.update(kind="numeric", mean=num.mean, std_dev=num.std_dev, min=num.min, max=num.max,
                    median=num.median, num_zeros=int(num.num_zeros), histogram=buckets)
    elif feature.HasField("string_stats"):
        text = feature.string_stats
        tops = [(t.value, t.frequency) for t in text.top_values]
        if not tops and text.HasField("rank_histogram"):
            tops = [(b.label, b.sample_count) for b in text.rank_histogram.buckets]
        denominator = present or 1
        view.update(kind="categorical", unique=int(text.unique), avg_length=text.avg_length,
                    top_values=[{"value": v, "count": c, "fraction": c / denominator} for v, c in tops[:_MAX_TOP_VALUES]])
    return view


def _split_protos(
    artifact: Artifact, filename: str, proto_class: Any, what: str, errors: list[str]
) -> Iterator[tuple[str, str, Any]]:
    """(split, path, parsed proto) for each split holding ``filename``; an unreadable file becomes
    a message in ``errors`` instead of an exception, so the report still renders."""
    for split in split_names(artifact, filename):
        path = os.path.join(artifact.split_uri(split), filename)
        proto = proto_class()
        try:
            with open(path, "rb") as f:
                proto.ParseFromString(f.read())
        except (OSError, DecodeError) as e:
            errors.append(f"{path}: cannot read {what} ({type(e).__name__}: {e})")
            continue
        yield split, path, proto


def read_statistics(artifact: Artifact) -> dict[str, Any]:
    """Per-feature statistics of every split: ``{"splits": [...], "features": [{name, splits: {split: view}}], "errors": [...]}``."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    type_names = {v.number: v.name for v in statistics_pb2.FeatureNameStatistics.Type.DESCRIPTOR.values}
    features: dict[str, dict[str, Any]] = {}
    splits: list[str] = []
    errors: list[str] = []
    num_examples: dict[str, int] = {}
    for split, path, proto in _split_protos(artifact, STATS_FILE, statistics_pb2.DatasetFeatureStatisticsList,
                                            "statistics", errors):
        if not proto.datasets:
            errors.append(f"{path}: no dataset in the statistics")
            continue
        splits.append(split)
        dataset = proto.datasets[0]
        num_examples[split] = int(dataset.num_examples)
        for feature in dataset.features:
            name = _feature_name(feature)
            entry = features.setdefault(name, {"name": name, "splits": {}})
            entry["splits"][split] = _feature_view(feature, int(dataset.num_examples), type_names)
    for entry in features.values():
        first = next(iter(entry["splits"].values()))
        entry["type"], entry["kind"] = first["type"], first["kind"]
    return {"splits": splits, "num_examples": num_examples,
            "features": sorted(features.values(), key=lambda e: e["name"]), "errors": errors}


def read_anomalies(artifact: Artifact) -> dict[str, Any]:
    """Anomaly rows per split plus the artifact's ``summary`` custom property, if any."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    severity_names = {v.number: v.name for v in anomalies_pb2.AnomalyInfo.Severity.DESCRIPTOR.values}
    rows: list[dict[str, Any]] = []
    splits: list[str] = []
    errors: list[str] = []
    for split, _, proto in _split_protos(artifact, ANOMALIES_FILE, anomalies_pb2.Anomalies, "anomalies", errors):
        splits.append(split)
        infos = [(feature, info) for feature, info in sorted(proto.anomaly_info.items())]
        if proto.HasField("dataset_anomaly_info"):
            infos.insert(0, ("(dataset)", proto.dataset_anomaly_info))
        for feature, info in infos:
            rows.append({
                "split": split,
                "feature": feature,
                "severity": severity_names.get(info.severity, str(info.severity)),
                "short_description": info.short_description,
                "description": info.description,
                "reasons": [r.short_description or r.description for r in info.reason],
            })
    summary = artifact.custom_properties.get("summary")
    if isinstance(summary, str):
        try:
            summary = json.loads(summary)
        except ValueError:
            pass
    return {"splits": splits, "rows": rows, "summary": summary, "errors": errors}
