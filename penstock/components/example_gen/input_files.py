"""ExampleGen's input files on the local disk or any filesystem pyarrow knows (``gs://``,
``s3://``, ``hdfs://``, ``file://``), so ``input_base`` can name a bucket as in TFX.

Local paths keep Python's own file calls (the common case, and the fastest); a URI goes through
``pyarrow.fs``. ``gs://`` honours ``STORAGE_EMULATOR_HOST`` as Google's clients do (a local
emulator, anonymous), since pyarrow's GCS filesystem does not read that variable itself.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
from typing import IO, Any
from urllib.parse import urlsplit

from penstock.errors import InputDataError


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """A file under a listed folder: its path (as ``join`` builds it), size and modification time."""

    path: str
    size: int
    mtime_ns: int


def is_remote(path: str) -> bool:
    return "://" in path


def join(base: str, relative: str) -> str:
    return f"{base.rstrip('/')}/{relative}" if is_remote(base) else os.path.join(base, relative)


def relative_to(path: str, base: str) -> str:
    if is_remote(base):
        return path[len(base.rstrip("/")) + 1 :]
    return os.path.relpath(path, base).replace(os.sep, "/")


@functools.lru_cache(maxsize=16)
def _filesystem_for(scheme: str, netloc: str, emulator: str | None) -> Any:
    from pyarrow import fs

    if scheme == "gs" and emulator:
        host = emulator.split("://", 1)[-1]
        return fs.GcsFileSystem(anonymous=True, endpoint_override=host, scheme="http")
    filesystem, _ = fs.FileSystem.from_uri(f"{scheme}://{netloc}/")
    return filesystem


def _resolve(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem holding ``uri`` and the path inside it."""
    parts = urlsplit(uri)
    try:
        filesystem = _filesystem_for(parts.scheme, parts.netloc, os.environ.get("STORAGE_EMULATOR_HOST"))
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError for unknown schemes and bad URIs
        raise InputDataError(f"{uri}: cannot open this filesystem ({e})") from None
    path = parts.path if parts.scheme == "file" else f"{parts.netloc}{parts.path}"
    return filesystem, path.rstrip("/") or "/"


def is_dir(path: str) -> bool:
    if not is_remote(path):
        return os.path.isdir(path)
    from pyarrow import fs

    filesystem, inner = _resolve(path)
    return bool(filesystem.get_file_info(inner).type == fs.FileType.Directory)


def list_remote_files(base: str) -> list[FileEntry]:
    """Every file under the URI ``base``, recursively, sorted by path (a local folder is
    globbed instead: see ``spans``)."""
    from pyarrow import fs

    filesystem, inner = _resolve(base)
    infos = filesystem.get_file_info(fs.FileSelector(inner, recursive=True))
    return sorted(
        (
            FileEntry(join(base, info.path[len(inner) + 1 :]), info.size or 0, info.mtime_ns or 0)
            for info in infos
            if info.type == fs.FileType.File
        ),
        key=lambda e: e.path,
    )


def file_entries(paths: list[str]) -> list[FileEntry]:
    """Size and modification time of each file in ``paths`` (remote ones in one request per
    filesystem)."""
    entries = {p: FileEntry(p, (st := os.stat(p)).st_size, st.st_mtime_ns) for p in paths if not is_remote(p)}
    by_filesystem: dict[int, tuple[Any, list[tuple[str, str]]]] = {}  # by id: filesystems are unhashable
    for path in paths:
        if path not in entries:
            filesystem, inner = _resolve(path)
            by_filesystem.setdefault(id(filesystem), (filesystem, []))[1].append((path, inner))
    for filesystem, pairs in by_filesystem.values():
        infos = filesystem.get_file_info([inner for _, inner in pairs])
        for (path, _), info in zip(pairs, infos):
            entries[path] = FileEntry(path, info.size or 0, info.mtime_ns or 0)
    return [entries[p] for p in paths]


def top_level_names(base: str) -> list[str]:
    """Names directly under ``base`` (for messages)."""
    if not is_remote(base):
        return sorted(os.listdir(base))
    from pyarrow import fs

    filesystem, inner = _resolve(base)
    return sorted(info.base_name for info in filesystem.get_file_info(fs.FileSelector(inner)))


def size(path: str) -> int:
    if not is_remote(path):
        return os.path.getsize(path)
    filesystem, inner = _resolve(path)
    return int(filesystem.get_file_info(inner).size or 0)


def open_binary(path: str) -> IO[bytes]:
    """A buffered, seekable binary reader (``readline``, ``seek``, ``tell``) for ``path``."""
    if not is_remote(path):
        return open(path, "rb")
    filesystem, inner = _resolve(path)
    try:
        native = filesystem.open_input_file(inner)
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file") from None
    return io.BufferedReader(_RawNativeFile(native), buffer_size=1 << 20)


def arrow_source(path: str) -> Any:
    """What pyarrow's readers (CSV, Parquet) take for ``path``: the path itself when local."""
    if not is_remote(path):
        return path
    filesystem, inner = _resolve(path)
    return filesystem.open_input_file(inner)


class _RawNativeFile(io.RawIOBase):
    """pyarrow's NativeFile as a raw stream, so io.BufferedReader adds ``readline`` (which
    pyarrow 10's files lack)."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._native.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._native.seek(offset, whence))

    def tell(self) -> int:
        return int(self._native.tell())

    def close(self) -> None:
        self._native.close()
        super().close()
