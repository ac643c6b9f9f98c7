"""The registry's views as plain dicts, shared by ``penstock models`` and the UI's model pages."""

from __future__ import annotations

from typing import Any

from penstock.registry.catalog import Catalog


def serving_views(catalog: Catalog, name: str, serving_dir: str | None = None,
                  server: str | None = None) -> dict[str, Any]:
    """What serves ``name`` now: its serving directory (default: where its newest version was
    pushed) and, given its REST address, a running server."""
    from penstock.registry.serving_state import server_status, serving_dir_state

    directory = serving_dir or catalog.versions(name)[-1].serving_dir
    return {"serving_dir": serving_dir_state(directory, name) if directory else None,
            "server": server_status(server, name) if server else None}


def models_overview(catalog: Catalog, serving_dir: str | None = None) -> list[dict[str, Any]]:
    """One row per model name: versions, blessed versions, what its serving directory serves."""
    rows = []
    for name in catalog.model_names():
        versions = catalog.versions(name)
        serving = serving_views(catalog, name, serving_dir)["serving_dir"]
        rows.append({"name": name, "versions": [v.version for v in versions],
                     "blessed": [v.version for v in versions if v.blessed],
                     "last_pushed": versions[-1].details["pushed_at"], "pipeline": versions[-1].details["pipeline"],
                     "serving_dir": serving["serving_dir"] if serving else "",
                     "served": serving["served"] if serving else [], "pinned": bool(serving and serving["pinned"])})
    return rows


def model_page_data(catalog: Catalog, name: str, serving_dir: str | None = None,
                    server: str | None = None) -> dict[str, Any]:
    """What ``penstock models NAME`` and the UI's model page show: versions newest first, each
    with where its base model came from, the rollbacks, and what serves now."""
    versions = [v.view() for v in reversed(catalog.versions(name))]
    for view in versions:
        base = view["base_model"]
        if base:
            pushed_as = catalog.version_of_model(base["id"])
            base["version"] = pushed_as.version if pushed_as else None
            base["name"] = pushed_as.name if pushed_as else None
    return {"name": name, "versions": versions, "rollbacks": catalog.rollbacks(name),
            **serving_views(catalog, name, serving_dir, server)}
