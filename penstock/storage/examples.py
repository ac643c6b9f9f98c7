"""Examples (and every split artifact): which splits it has and which files hold each split.

The one place that says "split does not exist": every component asking for a split gets the
same InputDataError, naming the artifact, the split and the splits it does have.
"""

from __future__ import annotations

from penstock.dsl.artifact import Artifact
from penstock.errors import InputDataError
from penstock.storage import filesystem, layout


def split_names(artifact: Artifact) -> list[str]:
    """The artifact's ``split_names`` property, else its ``Split-*`` folders (artifacts written
    by other tools)."""
    names = artifact.split_names
    if names:
        return names
    prefix = layout.SPLIT_PREFIX
    return [n[len(prefix):] for n in filesystem.list_names(artifact.uri) if n.startswith(prefix)]


def select_splits(component_id: str, available: list[str], exclude: list[str] | None, what: str) -> list[str]:
    """``available`` without ``exclude`` (TFX's ``exclude_splits``), which must name known splits."""
    exclude = list(exclude or [])
    unknown = [s for s in exclude if s not in available]
    if unknown:
        from penstock.errors import PipelineDefinitionError

        raise PipelineDefinitionError(
            f"{component_id}: exclude_splits names {unknown}, but the {what} has splits {available}"
        )
    return [s for s in available if s not in exclude]


def require_splits(component_id: str, artifact: Artifact, splits: list[str], what: str = "examples") -> None:
    available = split_names(artifact)
    for split in splits:
        if split not in available:
            raise InputDataError(
                f"{component_id}: split {split!r} not found in {what} {artifact.uri} "
                f"(splits: {', '.join(available) or 'none'})"
            )


def split_files(component_id: str, artifact: Artifact, split: str, what: str = "examples") -> list[str]:
    """The files of one split, sorted; InputDataError when the split is unknown or empty."""
    require_splits(component_id, artifact, [split], what)
    directory = layout.split_dir(artifact.uri, split)
    files = [e.path for e in filesystem.list_files(directory) if not _hidden(e.path)]
    if not files:
        raise InputDataError(f"{component_id}: split {split!r} of {what} {artifact.uri} holds no files ({directory})")
    return files


def split_pattern(artifact: Artifact, split: str) -> str:
    """A glob matching the files of one split, as TFX's readers take it."""
    return filesystem.join(layout.split_dir(artifact.uri, split), "*")


def _hidden(path: str) -> bool:
    return filesystem.basename(path).startswith(".")
