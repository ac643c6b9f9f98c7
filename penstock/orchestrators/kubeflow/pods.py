"""What a Kubernetes pod gives a Kubeflow task, reproduced on this machine for the local
executor's pod isolation (``run_compiled(isolation="pod")``).

**The image.** ``build_image`` copies one or more build contexts into a snapshot, once per run,
as ``docker build`` would: each context filtered by its own ``.dockerignore`` (or, without one,
the usual caches, virtual environments and VCS folders), later contexts copied over earlier ones
(an image built ``FROM`` another that adds files). The ``WORKDIR`` and ``ENV`` of the contexts'
``Dockerfile`` (the last one found wins) give the task's working directory and environment.

**The pod.** ``Pod.create`` gives every task attempt (KFP starts a new pod for every retry) its
own copy of the snapshot as the working directory, its own empty HOME and TMPDIR, and an
environment with only what a pod would get: the image's ``ENV`` (paths under ``/tmp``, ``/root``
and the ``WORKDIR`` mapped into the pod's folders), ``PATH``, the locale, ``PYTHONPATH`` at the
pod's copy of the image, and the variables the caller (and the spec's Kubernetes secrets) give
pods explicitly. Copies, not hard links: a task writing into a file in place must not change the
project or another task's files. (Measured on this repository: a copy takes ~0.1-0.15 s, hard
links ~0.02 s; either is noise next to the seconds a task spends importing TensorFlow.)

What this does not isolate: a file a task writes by an absolute path outside its folders
(``/tmp/x`` spelled out rather than through TMPDIR) lands on this machine's disk, where other
tasks could see it, when in a pod it would be private; and tasks share this machine's network
and CPUs, as pods on one node do.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence

from penstock.errors import PenstockError

# What `docker build` would send without a .dockerignore, minus what no image should hold:
# virtual environments, version control, caches and build output.
DEFAULT_IGNORE = (".git", ".hg", ".svn", ".venv", "venv", "**/__pycache__", "**/*.pyc", "**/.pytest_cache",
                  "**/.mypy_cache", "**/.ruff_cache", "*.egg-info", "build", "dist", ".penstock")
# python:3.11-slim's PATH; the interpreter's own folder goes first (it stands for /usr/local/bin).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The environment of the repository's Dockerfile, for build contexts without one.
DEFAULT_IMAGE_ENV = {"PYTHONUNBUFFERED": "1", "TF_USE_LEGACY_KERAS": "1", "PENSTOCK_HOME": "/tmp/penstock"}
DEFAULT_WORKDIR = "/app"
IMAGE_HOME = "/root"  # the python images run as root
# Set by the pod itself; a caller's value would point a task at folders other tasks share.
POD_OWNED_VARIABLES = ("HOME", "TMPDIR", "PYTHONPATH", "PENSTOCK_HOME", "PWD")
# Written by the interpreter on import, not by the task: left out of what a task left behind.
_BYTECODE = re.compile(r"(^|/)__pycache__(/|$)|\.pyc$")


@dataclasses.dataclass(frozen=True)
class Image:
    """A snapshot of the build contexts: the image's working directory and its environment."""

    root: str  # the snapshot's folder on this machine (the image's WORKDIR)
    workdir: str  # WORKDIR inside the image, e.g. /app
    env: dict[str, str]  # the Dockerfile's ENV, with paths as inside the image
    files: frozenset[str]  # paths relative to root


def build_image(contexts: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], destination: str) -> Image:
    """Copy ``contexts`` (a project folder, or several layered in order) into ``destination``."""
    folders = [os.fspath(contexts)] if isinstance(contexts, str | os.PathLike) else [os.fspath(c) for c in contexts]
    if not folders:
        raise PenstockError("pod isolation needs an image: pass image=<project directory> (its build context)")
    workdir, env = DEFAULT_WORKDIR, dict(DEFAULT_IMAGE_ENV)
    os.makedirs(destination, exist_ok=True)
    for folder in folders:
        if not os.path.isdir(folder):
            raise PenstockError(f"image build context {folder} is not a directory")
        rules = ignore_rules(folder)
        for relative in _context_files(folder, rules):
            target = os.path.join(destination, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.lexists(target):
                os.remove(target)
            shutil.copy2(os.path.join(folder, relative), target, follow_symlinks=False)
        dockerfile = os.path.join(folder, "Dockerfile")
        if os.path.isfile(dockerfile):
            workdir, env = dockerfile_settings(dockerfile)
    files = frozenset(_relative_files(destination))
    return Image(root=destination, workdir=workdir, env=env, files=files)


def ignore_rules(folder: str) -> list[tuple[bool, re.Pattern[str]]]:
    """``(excluded, pattern)`` pairs of the folder's ``.dockerignore`` (else ``DEFAULT_IGNORE``),
    in order: the last pattern matching a path decides, as in Docker."""
    path = os.path.join(folder, ".dockerignore")
    lines: Iterable[str] = DEFAULT_IGNORE
    if os.path.isfile(path):
        with open(path) as f:
            lines = f.read().splitlines()
    rules = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        excluded = not text.startswith("!")
        text = os.path.normpath(text.lstrip("!").strip()).lstrip("/")
        rules.append((excluded, _pattern(text)))
    return rules


def _pattern(text: str) -> re.Pattern[str]:
    """Docker's matching: ``*`` and ``?`` within one path segment, ``**`` across any number of
    them; a pattern naming a folder also matches everything under it."""
    parts, i = [], 0
    while i < len(text):
        if text.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            parts.append(".*")
            i += 2
        elif text[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif text[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(text[i]))
            i += 1
    return re.compile("".join(parts) + "(?:/.*)?")


def _ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    ignored = False
    for excluded, pattern in rules:
        if pattern.fullmatch(relative):
            ignored = excluded
    return ignored


def _context_files(folder: str, rules: list[tuple[bool, re.Pattern[str]]]) -> list[str]:
    # A folder can only be skipped whole when no "!" pattern could bring back something inside.
    prune = all(excluded for excluded, _ in rules)
    found: list[str] = []
    for current, dirs, files in os.walk(folder):
        base = os.path.relpath(current, folder)
        base = "" if base == "." else base + "/"
        if prune:
            dirs[:] = [d for d in dirs if not _ignored(base + d, rules)]
        found.extend(base + name for name in files if not _ignored(base + name, rules))
        # os.walk lists symbolic links to folders among dirs and does not follow them: copy the link.
        found.extend(base + d for d in dirs if os.path.islink(os.path.join(current, d)) and not _ignored(base + d, rules))
    return sorted(found)


def _relative_files(folder: str) -> Iterable[str]:
    for current, dirs, files in os.walk(folder):
        base = os.path.relpath(current, folder)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            yield name if base == "." else f"{base}/{name}"


def dockerfile_settings(path: str) -> tuple[str, dict[str, str]]:
    """The final stage's ``WORKDIR`` and ``ENV`` of a Dockerfile (continuation lines joined;
    ``ENV K=V ...`` and ``ENV K V``; ``$VAR`` references are not expanded)."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    workdir, env = DEFAULT_WORKDIR, dict[str, str]()
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) < 2 or words[0].startswith("#"):
            continue
        instruction, rest = words[0].upper(), words[1]
        if instruction == "FROM":  # a new stage starts from its base image's settings
            workdir, env = DEFAULT_WORKDIR, dict[str, str]()
        elif instruction == "WORKDIR":
            workdir = os.path.join(workdir, rest.strip())
        elif instruction == "ENV":
            tokens = shlex.split(rest)
            if tokens and "=" not in tokens[0]:
                env[tokens[0]] = " ".join(tokens[1:])
            else:
                for token in tokens:
                    name, _, value = token.partition("=")
                    env[name] = value
    return os.path.normpath(workdir), env


@dataclasses.dataclass(frozen=True)
class Pod:
    """One task attempt's private folders: ``app`` (a copy of the image), ``home``, ``tmp``."""

    root: str
    app: str
    home: str
    tmp: str

    @classmethod
    def create(cls, image: Image, root: str) -> Pod:
        pod = cls(root=root, app=os.path.join(root, "app"), home=os.path.join(root, "home"),
                  tmp=os.path.join(root, "tmp"))
        shutil.copytree(image.root, pod.app, symlinks=True)
        os.makedirs(pod.home)
        os.makedirs(pod.tmp)
        return pod

    def environment(self, image: Image, python: str, given: Mapping[str, str]) -> dict[str, str]:
        """The image's ENV, then what a pod gets from its spec: ``given`` (variables and secrets)."""
        owned = sorted(set(given) & set(POD_OWNED_VARIABLES))
        if owned:
            raise PenstockError(f"pod isolation sets {', '.join(owned)} itself, for each task; do not pass them in env")
        env = {name: value for name, value in os.environ.items() if name == "LANG" or name.startswith("LC_")}
        env.update({name: self.map_path(value, image) for name, value in image.env.items()})
        env.update({
            "PATH": f"{os.path.dirname(python)}:{SYSTEM_PATH}",
            "HOME": self.home,
            "TMPDIR": self.tmp,
            "PYTHONPATH": self.app,  # the image installs the project in development mode from WORKDIR
        })
        env.update(given)
        return env

    def map_path(self, value: str, image: Image) -> str:
        """A path inside the image, as this pod's folder on this machine (other values as they are)."""
        for inside, here in ((image.workdir, self.app), ("/tmp", self.tmp), (IMAGE_HOME, self.home)):
            if value == inside or value.startswith(inside.rstrip("/") + "/"):
                return here + value[len(inside.rstrip("/")):]
        return value

    def left_behind(self, image: Image) -> list[str]:
        """Files and empty folders (ending in "/") the task created in its folders, relative to
        ``root``, bytecode caches aside."""
        found = []
        for current, dirs, files in os.walk(self.root):
            base = os.path.relpath(current, self.root)
            if not dirs and not files and base not in ("app", "home", "tmp"):
                found.append(base + "/")
            for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
                relative = f"{base}/{name}"
                image_file = relative.startswith("app/") and relative[len("app/"):] in image.files
                if not image_file and not _BYTECODE.search(relative):
                    found.append(relative)
        return sorted(found)
