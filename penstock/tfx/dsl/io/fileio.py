"""``tfx.dsl.io.fileio``: file operations on local paths and object stores (TensorFlow's
``tf.io.gfile``, as TFX uses when TensorFlow is installed; imported on first call)."""

from __future__ import annotations

from typing import Any

PathType = str


class NotFoundError(IOError):
    """A file or folder does not exist."""


def _gfile() -> Any:
    from penstock import _env

    _env.use_keras_2()
    import tensorflow as tf

    return tf.io.gfile


def _call(name: str, *args: Any, **kwargs: Any) -> Any:
    import tensorflow as tf

    try:
        return getattr(_gfile(), name)(*args, **kwargs)
    except tf.errors.NotFoundError as e:
        raise NotFoundError(str(e)) from e


def open(path: PathType, mode: str = "r") -> Any:
    return _gfile().GFile(path, mode)


def copy(src: PathType, dst: PathType, overwrite: bool = False) -> None:
    _call("copy", src, dst, overwrite=overwrite)


def exists(path: PathType) -> bool:
    return bool(_call("exists", path))


def glob(pattern: PathType) -> list[PathType]:
    return list(_call("glob", pattern))


def isdir(path: PathType) -> bool:
    return bool(_call("isdir", path))


def listdir(path: PathType) -> list[PathType]:
    return list(_call("listdir", path))


def makedirs(path: PathType) -> None:
    _call("makedirs", path)


def mkdir(path: PathType) -> None:
    _call("mkdir", path)


def remove(path: PathType) -> None:
    _call("remove", path)


def rename(src: PathType, dst: PathType, overwrite: bool = False) -> None:
    _call("rename", src, dst, overwrite=overwrite)


def rmtree(path: PathType) -> None:
    _call("rmtree", path)


def stat(path: PathType) -> Any:
    return _call("stat", path)


def walk(top: PathType, topdown: bool = True, onerror: Any = None) -> Any:
    return _call("walk", top, topdown=topdown, onerror=onerror)
