"""Files by URI: a local path, ``file://``, or any store pyarrow reaches (``gs://``, ``s3://``,
``hdfs://``). Every file penstock itself reads or writes for an artifact, an input or a serving
directory goes through here.

Local paths keep Python's own calls (the common case and the fastest); URIs go through
``pyarrow.fs``, configured from the variables the stores' own clients read, so one setting
reaches penstock, Beam and TensorFlow alike (see ``endpoints``).

Object stores differ from disks in three ways that shape this interface: a "folder" is only a
name prefix (it exists while an object under it exists, and an empty one does not), nothing can
be renamed (so nothing here offers a rename: a writer commits by other means, see
``penstock.storage.staging``), and a single object is written whole or not at all (so
``write_bytes`` is atomic everywhere: locally it writes a temporary file and replaces).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any
from urllib.parse import urlsplit

from penstock.errors import StorageError
from penstock.storage import endpoints


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """A file: its URI (as ``join`` builds it), size and modification time."""

    path: str
    size: int
    mtime_ns: int


@dataclasses.dataclass
class Transfer:
    """What a copy moved, for logs and the object-store benchmark."""

    files: int = 0
    bytes: int = 0

    def __iadd__(self, other: Transfer) -> Transfer:
        self.files += other.files
        self.bytes += other.bytes
        return self


# -- names ------------------------------------------------------------------------------------
def scheme(uri: str) -> str:
    """``gs``, ``s3``, ``hdfs``, ...; ``""`` for a local path (``file://`` counts as local)."""
    if "://" not in uri:
        return ""
    found = uri.split("://", 1)[0].lower()
    return "" if found == "file" else found


def is_remote(uri: str) -> bool:
    return scheme(uri) != ""


def local_path(uri: str) -> str:
    """The local path of a local URI (``file:///x`` -> ``/x``)."""
    return uri[len("file://"):] if uri.startswith("file://") else uri


def absolute(uri: str) -> str:
    """A local path made absolute; a remote URI as it is (``os.path.abspath`` would turn
    ``gs://b/x`` into ``$PWD/gs:/b/x``)."""
    return uri.rstrip("/") if is_remote(uri) else os.path.abspath(local_path(uri))


def join(base: str, *parts: str) -> str:
    if not is_remote(base):
        return os.path.join(base, *parts)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def dirname(uri: str) -> str:
    if not is_remote(uri):
        return os.path.dirname(uri)
    head, _, _ = uri.rstrip("/").rpartition("/")
    return head


def basename(uri: str) -> str:
    return uri.rstrip("/").rpartition("/")[2] if is_remote(uri) else os.path.basename(uri)


def relative_to(path: str, base: str) -> str:
    if is_remote(base):
        return path[len(base.rstrip("/")) + 1:]
    return os.path.relpath(path, base).replace(os.sep, "/")


# -- the pyarrow side -----------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _filesystem_for(scheme_name: str, netloc: str, settings: endpoints.Settings) -> Any:
    from pyarrow import fs

    if scheme_name == "gs" and settings.gcs_emulator:
        return fs.GcsFileSystem(anonymous=True, endpoint_override=settings.gcs_emulator_host_port,
                                scheme=settings.gcs_emulator_scheme)
    if scheme_name in ("s3", "s3a"):
        kwargs: dict[str, Any] = {}
        if settings.s3_endpoint:
            kwargs.update(endpoint_override=settings.s3_endpoint_host_port, scheme=settings.s3_endpoint_scheme)
        if settings.aws_region:
            kwargs["region"] = settings.aws_region
        return fs.S3FileSystem(**kwargs)
    filesystem, _ = fs.FileSystem.from_uri(f"{scheme_name}://{netloc}/")
    return filesystem


def resolve(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem holding ``uri`` and the path inside it (for readers that take a
    filesystem, such as pyarrow's CSV and Parquet readers)."""
    if not is_remote(uri):
        from pyarrow import fs

        return fs.LocalFileSystem(), os.path.abspath(local_path(uri))
    parts = urlsplit(uri)
    try:
        filesystem = _filesystem_for(parts.scheme.lower(), parts.netloc, endpoints.current())
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError for unknown schemes and bad URIs
        raise StorageError(f"{uri}: cannot open this filesystem ({e})") from None
    return filesystem, (f"{parts.netloc}{parts.path}".rstrip("/") or "/")


def _info(uri: str) -> Any:
    filesystem, inner = resolve(uri)
    try:
        return filesystem.get_file_info(inner)
    except OSError as e:
        raise _store_error(uri, e) from None


def _store_error(uri: str, error: BaseException) -> StorageError:
    return StorageError(f"{uri}: {type(error).__name__}: {error}")


# -- queries ----------------------------------------------------------------------------------
def exists(uri: str) -> bool:
    """A file, or a folder (on an object store: a prefix with at least one object under it)."""
    if not is_remote(uri):
        return os.path.exists(local_path(uri))
    from pyarrow import fs

    return bool(_info(uri).type != fs.FileType.NotFound)


def is_file(uri: str) -> bool:
    if not is_remote(uri):
        return os.path.isfile(local_path(uri))
    from pyarrow import fs

    return bool(_info(uri).type == fs.FileType.File)


def is_dir(uri: str) -> bool:
    if not is_remote(uri):
        return os.path.isdir(local_path(uri))
    from pyarrow import fs

    return bool(_info(uri).type == fs.FileType.Directory)


def size(uri: str) -> int:
    if not is_remote(uri):
        return os.path.getsize(local_path(uri))
    return int(_info(uri).size or 0)


def list_names(uri: str) -> list[str]:
    """Names directly under the folder ``uri``, sorted; empty if it does not exist."""
    if not is_remote(uri):
        try:
            return sorted(os.listdir(local_path(uri)))
        except (FileNotFoundError, NotADirectoryError):
            return []
    from pyarrow import fs

    filesystem, inner = resolve(uri)
    # pyarrow 10's GCS filesystem leaves folders (common prefixes) out of a one-level listing:
    # list everything under the prefix there, and keep the first level of each name.
    recursive = scheme(uri) == "gs"
    try:
        infos = filesystem.get_file_info(fs.FileSelector(inner, recursive=recursive, allow_not_found=True))
    except OSError as e:
        raise _store_error(uri, e) from None
    return sorted({info.path[len(inner) + 1:].split("/", 1)[0] for info in infos})


def list_files(uri: str) -> list[FileEntry]:
    """Every file under the folder ``uri``, recursively, sorted by path (empty if none)."""
    if not is_remote(uri):
        root = local_path(uri)
        found = []
        for directory, _, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                st = os.stat(path)
                found.append(FileEntry(path, st.st_size, st.st_mtime_ns))
        return sorted(found, key=lambda e: e.path)
    from pyarrow import fs

    filesystem, inner = resolve(uri)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(inner, recursive=True, allow_not_found=True))
    except OSError as e:
        raise _store_error(uri, e) from None
    return sorted(
        (FileEntry(join(uri, info.path[len(inner) + 1:]), info.size or 0, info.mtime_ns or 0)
         for info in infos if info.type == fs.FileType.File),
        key=lambda e: e.path,
    )


def file_entries(paths: Sequence[str]) -> list[FileEntry]:
    """Size and modification time of each file (remote ones in one request per filesystem)."""
    entries: dict[str, FileEntry] = {}
    by_filesystem: dict[int, tuple[Any, list[tuple[str, str]]]] = {}  # by id: filesystems are unhashable
    for path in paths:
        if not is_remote(path):
            st = os.stat(local_path(path))
            entries[path] = FileEntry(path, st.st_size, st.st_mtime_ns)
        else:
            filesystem, inner = resolve(path)
            by_filesystem.setdefault(id(filesystem), (filesystem, []))[1].append((path, inner))
    for filesystem, pairs in by_filesystem.values():
        infos = filesystem.get_file_info([inner for _, inner in pairs])
        for (path, _), info in zip(pairs, infos):
            entries[path] = FileEntry(path, info.size or 0, info.mtime_ns or 0)
    return [entries[p] for p in paths]


# -- reading ----------------------------------------------------------------------------------
def read_bytes(uri: str) -> bytes:
    if not is_remote(uri):
        with open(local_path(uri), "rb") as f:
            return f.read()
    filesystem, inner = resolve(uri)
    try:
        # compression=None: pyarrow's default 'detect' silently gunzips files named *.gz.
        with filesystem.open_input_stream(inner, compression=None) as f:
            return bytes(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(f"{uri}: no such file") from None
    except OSError as e:
        raise _store_error(uri, e) from None


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def open_input(uri: str) -> IO[bytes]:
    """A buffered, seekable binary reader (``read``, ``readline``, ``seek``, ``tell``)."""
    if not is_remote(uri):
        return open(local_path(uri), "rb")
    filesystem, inner = resolve(uri)
    try:
        native = filesystem.open_input_file(inner)
    except FileNotFoundError:
        raise FileNotFoundError(f"{uri}: no such file") from None
    except OSError as e:
        raise _store_error(uri, e) from None
    return io.BufferedReader(_RawNativeFile(native), buffer_size=1 << 20)


def arrow_source(uri: str) -> Any:
    """What pyarrow's readers (CSV, Parquet) take: the path itself when local."""
    if not is_remote(uri):
        return local_path(uri)
    filesystem, inner = resolve(uri)
    return filesystem.open_input_file(inner)


# -- writing ----------------------------------------------------------------------------------
def makedirs(uri: str) -> None:
    """Create a local folder (and its parents); nothing on an object store, where a folder is
    only a prefix that exists once something is written under it."""
    if not is_remote(uri):
        os.makedirs(local_path(uri), exist_ok=True)


def open_output(uri: str) -> IO[bytes]:
    """A binary writer; the object (or file) is complete when the writer is closed."""
    if not is_remote(uri):
        path = local_path(uri)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return open(path, "wb")
    filesystem, inner = resolve(uri)
    try:
        return filesystem.open_output_stream(inner, compression=None)
    except OSError as e:
        raise _store_error(uri, e) from None


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole file at once; readers never see a part of it."""
    if not is_remote(uri):
        path = local_path(uri)
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return
    with open_output(uri) as f:
        f.write(data)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def delete(uri: str) -> None:
    """Remove a file or a whole folder; nothing if it does not exist."""
    if not is_remote(uri):
        path = local_path(uri)
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                os.rmdir(path)  # the common case for scratch folders: already empty, one call
            except OSError:
                shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return
    from pyarrow import fs

    filesystem, inner = resolve(uri)
    try:
        info = filesystem.get_file_info(inner)
        if info.type == fs.FileType.Directory:
            filesystem.delete_dir(inner)
        elif info.type == fs.FileType.File:
            filesystem.delete_file(inner)
    except FileNotFoundError:
        return
    except OSError as e:
        raise _store_error(uri, e) from None


def copy_file(source: str, target: str) -> Transfer:
    if not is_remote(source) and not is_remote(target):
        os.makedirs(os.path.dirname(local_path(target)) or ".", exist_ok=True)
        shutil.copyfile(local_path(source), local_path(target))
        return Transfer(1, os.path.getsize(local_path(target)))
    with open_input(source) as reader, open_output(target) as writer:
        moved = 0
        while chunk := reader.read(8 << 20):
            writer.write(chunk)
            moved += len(chunk)
    return Transfer(1, moved)


def copy_tree(source: str, target: str, *, last: Iterable[str] = (), threads: int = 8,
              before_last: Callable[[], None] | None = None) -> Transfer:
    """Copy every file under ``source`` to the same relative path under ``target``, across
    filesystems. Files whose relative path is in ``last`` are copied after all others, and
    after ``before_last`` has run (the Pusher writes ``saved_model.pb`` last, so a server
    polling an object store never finds a SavedModel whose variables are still missing)."""
    entries = list_files(source)
    if not entries and not exists(source):
        raise FileNotFoundError(f"{source}: no such folder")
    deferred = set(last)
    pairs = [(e.path, join(target, relative_to(e.path, source)), e.size) for e in entries]
    first = [p for p in pairs if relative_to(p[0], source) not in deferred]
    final = [p for p in pairs if relative_to(p[0], source) in deferred]
    if not is_remote(target):
        makedirs(target)
    moved = _copy_files(first, threads)
    if before_last is not None:
        before_last()
    moved += _copy_files(final, threads)
    return moved


def _copy_files(pairs: list[tuple[str, str, int]], threads: int) -> Transfer:
    if not pairs:
        return Transfer()
    if len(pairs) == 1 or threads <= 1:
        total = Transfer()
        for src, dst, _ in pairs:
            total += copy_file(src, dst)
        return total
    import concurrent.futures

    total = Transfer()
    # Many small objects: round trips dominate, so copy several at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(threads, len(pairs)),
                                               thread_name_prefix="penstock-copy") as pool:
        for moved in pool.map(lambda p: copy_file(p[0], p[1]), pairs):
            total += moved
    return total


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


def read_json(uri: str) -> Any:
    import json

    return json.loads(read_text(uri))


def write_json(uri: str, payload: Any) -> None:
    import json

    write_text(uri, json.dumps(payload, indent=2, sort_keys=True, default=str))
