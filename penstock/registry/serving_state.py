"""What is served now: from a serving directory (``models.config`` plus the versions on it, as TF
Serving would read them) or from a running server (its REST model status API, which
``tensorflow_model_server`` and ``penstock serve`` answer alike)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from penstock.errors import PenstockError, StorageError
from penstock.storage import filesystem


def serving_dir_state(serving_dir: str, name: str) -> dict[str, Any]:
    """``{"serving_dir", "config_file", "listed", "policy", "labels", "on_disk": [...], "served": [...],
    "pinned": bool, "errors": [...]}``: ``served`` is what a server reading ``models.config``
    aspires to serve (TF Serving's rule: the newest version when the policy is ``latest``, the
    listed ones that exist for ``specific``)."""
    from penstock.components.pusher.executor import MODELS_CONFIG, read_models_config
    from penstock.serving.config import VersionPolicy, model_configs_from_proto
    from penstock.serving.model_registry import aspired_versions
    from penstock.serving.storage import BasePathUnavailable, list_versions, missing_parts

    state: dict[str, Any] = {"serving_dir": serving_dir, "config_file": filesystem.join(serving_dir, MODELS_CONFIG),
                             "listed": False, "policy": "latest 1", "labels": {}, "on_disk": [], "incomplete": [],
                             "served": [], "pinned": False, "errors": []}
    policy = VersionPolicy()
    base_path = filesystem.join(serving_dir, name)
    try:
        config = read_models_config(serving_dir)
        entries = [c for c in model_configs_from_proto(config, state["config_file"]) if c.name == name] \
            if config.model_config_list.config else []
    except PenstockError as e:
        state["errors"].append(str(e))
        entries = []
    if entries:
        entry = entries[0]
        policy, base_path = entry.policy, entry.base_path
        state.update(listed=True, policy=policy.describe(), labels=dict(entry.labels),
                     pinned=policy.kind == "specific", base_path=base_path)
    try:
        on_disk = list_versions(base_path)
    except (BasePathUnavailable, StorageError) as e:
        state["errors"].append(f"cannot list {base_path}: {e}")
        on_disk = {}
    complete = {v: p for v, p in on_disk.items() if not missing_parts(p)}
    state["on_disk"] = sorted(complete)
    state["incomplete"] = sorted(set(on_disk) - set(complete))
    state["served"] = sorted(aspired_versions(policy, complete))
    return state


def server_status(address: str, name: str, timeout: float = 10.0) -> dict[str, Any]:
    """A running server's REST status of ``name``: ``{"address", "versions": {version: state}, "error"}``.

    ``address`` is the REST endpoint, ``http://host:8501`` (``host:8501`` works too)."""
    base = address if "://" in address else f"http://{address}"
    url = f"{base.rstrip('/')}/v1/models/{name}"
    result: dict[str, Any] = {"address": base, "versions": {}, "error": None}
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")[:300]
        result["error"] = f"{url}: HTTP {e.code}: {detail}"
        return result
    except (urllib.error.URLError, OSError, ValueError) as e:
        result["error"] = f"{url}: {getattr(e, 'reason', e)}"
        return result
    for status in body.get("model_version_status", []):
        result["versions"][int(status.get("version", 0))] = status.get("state", "")
    return result


def available_versions(status: dict[str, Any]) -> list[int]:
    return sorted(v for v, state in status["versions"].items() if state == "AVAILABLE")
