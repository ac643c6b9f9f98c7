"""The models being served: which versions are loaded, which answer a request, and when an old
version may go.

A poller scans each model's base path for integer version directories and applies the version
policy (latest N, specific, all). A new version is loaded only once its directory looks complete
(saved_model.pb and variables/ present) and has stopped changing since the previous scan, and it
must load; otherwise it is retried when its files change, and the versions already loaded keep
serving. Requests hold a reference to the version answering them; a version leaving the policy
stops receiving new requests at once and is unloaded when its last request finishes, so a hot
swap loses nothing.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from penstock.serving.batching import BatchingOptions, BatchScheduler
from penstock.serving.config import ModelConfig
from penstock.serving.errors import not_found
from penstock.serving.servable import Servable, missing_parts

log = logging.getLogger("penstock.serving")

Loader = Callable[[str, int, str], Servable]
BatchObserver = Callable[[str, int, str, int], None]
MAX_STATUS_HISTORY = 32


@dataclass
class VersionStatus:
    version: int
    state: str  # START, LOADING, AVAILABLE, UNLOADING, END (TF Serving's ModelVersionStatus.State)
    error_code: str = "OK"
    error_message: str = ""


@dataclass(eq=False)
class LoadedVersion:
    model: _Model
    version: int
    servable: Servable
    scheduler: BatchScheduler | None
    refs: int = 0
    retiring: bool = False


@dataclass(eq=False)
class _Model:
    config: ModelConfig
    loaded: dict[int, LoadedVersion] = field(default_factory=dict)
    latest: LoadedVersion | None = None
    statuses: dict[int, VersionStatus] = field(default_factory=dict)
    failed: dict[int, tuple[object, ...]] = field(default_factory=dict)  # version -> fingerprint that failed
    last_seen: dict[int, tuple[object, ...]] = field(default_factory=dict)  # fingerprint at previous scan
    scanned: bool = False
    warned_missing_base: bool = False

    def set_status(self, status: VersionStatus) -> None:
        self.statuses[status.version] = status
        if len(self.statuses) > MAX_STATUS_HISTORY:
            stale = [v for v, s in self.statuses.items() if s.state == "END"]
            for v in sorted(stale)[: len(self.statuses) - MAX_STATUS_HISTORY]:
                del self.statuses[v]


class Handle:
    """A version reserved for one request; release it (``with``) when the response is built."""

    __slots__ = ("_entry", "_registry", "scheduler", "servable", "version")

    def __init__(self, registry: ModelRegistry, entry: LoadedVersion) -> None:
        self._registry = registry
        self._entry = entry
        self.servable = entry.servable
        self.version = entry.version
        self.scheduler = entry.scheduler

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self._registry._release(self._entry)


def _fingerprint(path: str) -> tuple[object, ...]:
    """Names, sizes and modification times of everything under a version directory."""
    entries: list[object] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                entries.append((full, -1, -1))
                continue
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(entries)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}"


class ModelRegistry:
    def __init__(self, configs: list[ModelConfig], loader: Loader,
                 batching: BatchingOptions | None = None,
                 on_batch: BatchObserver | None = None,
                 seed: int | None = None) -> None:
        self._loader = loader
        self._batching = batching
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # one scan at a time (poller thread vs an explicit poll)
        self._models: dict[str, _Model] = {c.name: _Model(c) for c in configs}
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- requests -------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def is_known(self, name: str) -> bool:
        return name in self._models

    def acquire(self, name: str, version: int | None = None, label: str | None = None) -> Handle:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise not_found(f"Servable not found for request: model '{name}' is not served")
            entry = self._resolve(model, version, label)
            entry.refs += 1
        return Handle(self, entry)

    def _resolve(self, model: _Model, version: int | None, label: str | None) -> LoadedVersion:
        name = model.config.name
        if version is not None:
            entry = model.loaded.get(version)
            if entry is None:
                raise not_found(f"Servable not found for request: model '{name}' version {version} is not "
                                f"available (available: {self._available(model)})")
            return entry
        if label is not None:
            target = model.config.labels.get(label)
            if target is None:
                known = ", ".join(sorted(model.config.labels)) or "none"
                raise not_found(f"model '{name}' has no version label '{label}' (labels: {known})")
            entry = model.loaded.get(target)
            if entry is None:
                raise not_found(f"model '{name}': label '{label}' points to version {target}, which is not "
                                f"available (available: {self._available(model)})")
            return entry
        split = model.config.traffic_split
        if split is not None:
            for target_name in split.ordered_choices(self._rng):
                target_version = int(target_name) if target_name.isdigit() else model.config.labels.get(target_name)
                if target_version is not None and target_version in model.loaded:
                    return model.loaded[target_version]
        if model.latest is None:
            raise not_found(f"Servable not found for request: model '{name}' has no version loaded yet "
                            f"(base path {model.config.base_path})")
        return model.latest

    @staticmethod
    def _available(model: _Model) -> str:
        return ", ".join(str(v) for v in sorted(model.loaded)) or "none"

    def _release(self, entry: LoadedVersion) -> None:
        with self._lock:
            entry.refs -= 1
            finalize = entry.retiring and entry.refs == 0
        if finalize:
            self._finalize(entry)

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise not_found(f"Servable not found for request: model '{name}' is not served")
            if label is not None:
                if label not in model.config.labels:
                    known = ", ".join(sorted(model.config.labels)) or "none"
                    raise not_found(f"model '{name}' has no version label '{label}' (labels: {known})")
                version = model.config.labels[label]
            if version is not None:
                status = model.statuses.get(version)
                if status is None:
                    raise not_found(f"model '{name}' has no version {version}")
                return [status]
            statuses = list(model.statuses.values())
        if not statuses:
            raise not_found(f"model '{name}' has no versions yet (base path {model.config.base_path})")
        return sorted(statuses, key=lambda s: (s.state != "AVAILABLE", -s.version))

    # ---- configuration and polling ----------------------------------------------------------

    def set_configs(self, configs: list[ModelConfig]) -> None:
        """Apply a new model list: add models, drop removed ones, take new policies and labels."""
        retired: list[LoadedVersion] = []
        with self._lock:
            wanted = {c.name: c for c in configs}
            for name in list(self._models):
                if name not in wanted:
                    removed = self._models.pop(name)
                    retired.extend(self._retire_locked(removed, list(removed.loaded)))
                    log.info("model %s removed from the config: unloading", name)
            for name, config in wanted.items():
                model = self._models.get(name)
                if model is None:
                    self._models[name] = _Model(config)
                    log.info("model %s added from %s", name, config.base_path)
                elif model.config != config:
                    if model.config.base_path != config.base_path:
                        retired.extend(self._retire_locked(model, list(model.loaded)))
                        model.failed.clear()
                        model.last_seen.clear()
                    model.config = config
        for entry in retired:
            self._finalize(entry)

    def poll_once(self) -> None:
        with self._poll_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                try:
                    self._poll_model(model)
                except Exception:  # one model's trouble must not stop the others
                    log.exception("model %s: scanning %s failed", model.config.name, model.config.base_path)

    def start_polling(self, interval_seconds: float,
                      before_poll: Callable[[], None] | None = None) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_seconds):
                if before_poll is not None:
                    try:
                        before_poll()
                    except Exception:  # the poller must survive a bad config
                        log.exception("reloading the model config failed")
                self.poll_once()

        self._thread = threading.Thread(target=loop, name="penstock-model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            retired = [e for m in self._models.values() for e in self._retire_locked(m, list(m.loaded))]
        for entry in retired:
            self._finalize(entry)

    def _scan(self, model: _Model) -> dict[int, str]:
        base = model.config.base_path
        try:
            names = os.listdir(base)
        except OSError as e:
            if not model.warned_missing_base:
                log.warning("model %s: base path %s cannot be listed (%s); waiting for versions",
                            model.config.name, base, e.strerror)
                model.warned_missing_base = True
            return {}
        model.warned_missing_base = False
        real_base = os.path.realpath(base)
        versions: dict[int, str] = {}
        for name in names:
            if not name.isdigit() or not name.isascii():
                continue  # temp dirs (.tmp-7), files, anything that is not a version number
            path = os.path.join(base, name)
            real = os.path.realpath(path)
            if not os.path.isdir(real):
                continue
            if os.path.commonpath([real, real_base]) != real_base:
                log.warning("model %s: version %s resolves to %s, outside the base path; ignored",
                            model.config.name, name, real)
                continue
            versions[int(name)] = path
        return versions

    def _poll_model(self, model: _Model) -> None:
        on_disk = self._scan(model)
        policy = model.config.policy
        first_scan = not model.scanned
        model.scanned = True
        fingerprints: dict[int, tuple[object, ...]] = {}

        def try_load(version: int) -> bool:
            path = on_disk[version]
            fp = fingerprints.setdefault(version, _fingerprint(path))
            stable = first_scan or model.last_seen.get(version) == fp
            if model.failed.get(version) == fp:
                return False
            missing = missing_parts(path)
            if missing:
                if stable:
                    model.failed[version] = fp
                    msg = f"{path} is incomplete (missing {', '.join(missing)}); will retry when it changes"
                    log.warning("model %s version %d: %s", model.config.name, version, msg)
                    with self._lock:
                        model.set_status(VersionStatus(version, "END", "NOT_FOUND", msg))
                return False
            if not stable:
                return False  # still being written, perhaps: look again at the next scan
            return self._load(model, version, path, fp)

        keep: list[int] = []
        if policy.kind == "latest":
            for version in sorted(on_disk, reverse=True):
                if len(keep) >= policy.num_versions:
                    break
                if version in model.loaded or try_load(version):
                    keep.append(version)
        else:
            # newest first, so the version a request without a version number gets is ready soonest
            wanted = on_disk if policy.kind == "all" else [v for v in policy.versions if v in on_disk]
            candidates = sorted(wanted, reverse=True)
            for version in candidates:
                if version in model.loaded or try_load(version):
                    keep.append(version)
        model.last_seen = {v: fp for v, fp in fingerprints.items()}
        with self._lock:
            if self._models.get(model.config.name) is not model:
                retired = self._retire_locked(model, list(model.loaded))
            else:
                retired = self._retire_locked(model, [v for v in model.loaded if v not in keep])
        for entry in retired:
            self._finalize(entry)

    def _load(self, model: _Model, version: int, path: str, fp: tuple[object, ...]) -> bool:
        name = model.config.name
        with self._lock:
            model.set_status(VersionStatus(version, "LOADING"))
        try:
            servable = self._loader(name, version, path)
        except Exception as e:  # a broken version must not take the server down
            model.failed[version] = fp
            msg = f"could not load {path}: {_first_line(e)}; will retry when its files change"
            log.warning("model %s version %d: %s", name, version, msg)
            with self._lock:
                model.set_status(VersionStatus(version, "END", "UNKNOWN", msg))
            return False
        scheduler = None
        if self._batching is not None:
            observer = self._on_batch
            scheduler = BatchScheduler(
                self._batching,
                (lambda sig, size: observer(name, version, sig, size)) if observer else None,
            )
        entry = LoadedVersion(model, version, servable, scheduler)
        with self._lock:
            model.loaded[version] = entry
            model.latest = model.loaded[max(model.loaded)]
            model.failed.pop(version, None)
            model.set_status(VersionStatus(version, "AVAILABLE"))
        log.info("model %s version %d is available", name, version)
        return True

    def _retire_locked(self, model: _Model, versions: list[int]) -> list[LoadedVersion]:
        """Stop routing to ``versions``; return those with no request in flight (to finalize)."""
        done = []
        for version in versions:
            entry = model.loaded.pop(version, None)
            if entry is None:
                continue
            entry.retiring = True
            model.set_status(VersionStatus(version, "UNLOADING"))
            log.info("model %s version %d: unloading (%d request(s) in flight)", model.config.name, version,
                     entry.refs)
            if entry.refs == 0:
                done.append(entry)
        model.latest = model.loaded[max(model.loaded)] if model.loaded else None
        return done

    def _finalize(self, entry: LoadedVersion) -> None:
        if entry.scheduler is not None:
            entry.scheduler.close()
        with self._lock:
            entry.model.set_status(VersionStatus(entry.version, "END"))
        log.info("model %s version %d unloaded", entry.model.config.name, entry.version)
