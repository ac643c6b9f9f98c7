"""The models being served: which versions are loaded, which answers a request, and when a version
may go -- TF Serving's AspiredVersionsManager with its AvailabilityPreservingPolicy.

A poller lists each model's base path (penstock.serving.storage) and applies the version policy
(latest N, specific, all) to get the *aspired* versions. A new version is loaded only once its
directory looks complete (saved_model.pb and variables/) and has stopped changing since the
previous poll, and it must load (warmup included); otherwise it is retried when its files change.
A loaded version that is no longer aspired is unloaded only when an aspired version is serving, so
a model is never left without a loaded version by a rollback (deleting the newest version, a
``specific`` policy naming an older one), a base path change or a config reload: the new set is
loaded first. (When the base path has no version at all any more, its versions are unloaded, as in
TF Serving; when a ``specific`` policy names only versions that do not exist, the loaded ones keep
serving.) Requests hold a reference to the version answering them; a version leaving service stops
receiving new requests at once and is unloaded when its last request finishes.

Version labels follow TF Serving: a label must point to an available version when it is set, unless
``allow_version_labels_for_unavailable_models`` (then only new labels may point elsewhere); an
unknown label is INVALID_ARGUMENT, a label whose version is not loaded NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from penstock.serving import storage
from penstock.serving.batching import BatchingOptions, BatchScheduler
from penstock.serving.config import ModelConfig, VersionPolicy
from penstock.serving.errors import ServingConfigError, invalid, not_found
from penstock.serving.inference import Call
from penstock.serving.servable import Outputs, Servable

log = logging.getLogger("penstock.serving")

Loader = Callable[[str, int, str], Servable]
BatchObserver = Callable[[str, int, str, int, list[float]], None]
RuntimeObserver = Callable[[str, str, float], None]
MAX_STATUS_HISTORY = 32
# a lone call of a few rows to a signature whose last run took less than this runs on the event loop
INLINE_RUN_SECONDS = 0.002
INLINE_MAX_ROWS = 16


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
    base_path: str
    refs: int = 0
    retiring: bool = False


@dataclass(eq=False)
class _Model:
    config: ModelConfig
    loaded: dict[int, LoadedVersion] = field(default_factory=dict)
    latest: LoadedVersion | None = None
    statuses: dict[int, VersionStatus] = field(default_factory=dict)
    failed: dict[int, tuple[object, ...]] = field(default_factory=dict)  # version -> fingerprint that failed
    last_seen: dict[int, tuple[object, ...]] = field(default_factory=dict)  # fingerprint at previous poll
    scanned: bool = False
    warned: str = ""  # the last warning about the base path, logged once until it changes

    def set_status(self, status: VersionStatus) -> None:
        self.statuses[status.version] = status
        if len(self.statuses) > MAX_STATUS_HISTORY:
            stale = [v for v, s in self.statuses.items() if s.state == "END"]
            for v in sorted(stale)[: len(self.statuses) - MAX_STATUS_HISTORY]:
                del self.statuses[v]

    def serving(self) -> set[int]:
        """Versions loaded from the configured base path (not left over from a previous one)."""
        return {v for v, e in self.loaded.items() if e.base_path == self.config.base_path}

    def warn_once(self, message: str) -> None:
        if message != self.warned:
            log.warning("model %s: %s", self.config.name, message)
            self.warned = message


class Handle:
    """A version reserved for one request; release it (``with``) when the response is built."""

    __slots__ = ("_entry", "_registry", "scheduler", "servable", "version")

    def __init__(self, registry: ModelRegistry, entry: LoadedVersion) -> None:
        self._registry = registry
        self._entry = entry
        self.servable = entry.servable
        self.version = entry.version
        self.scheduler = entry.scheduler

    async def run(self, call: Call) -> Outputs:
        """The ``run`` of penstock.serving.inference. A call of a few rows that is alone (no other
        model call in flight in the server) to a signature whose runs are quick runs right here:
        handing it to a thread and back costs more than the run (~0.2 ms on 2 cores). Otherwise
        stackable calls of a batching version go to the batch queue, the others to a thread of the
        registry's pool, so the event loop stays free while they run."""
        registry = self._registry
        alone = registry.begin_call() == 1
        try:
            if alone and call.rows is not None and call.rows <= INLINE_MAX_ROWS and \
                    call.sig.last_run_seconds < INLINE_RUN_SECONDS:
                return self._timed(call)
            if self.scheduler is not None and call.rows is not None:
                return await self.scheduler.submit(call)
            return await asyncio.get_running_loop().run_in_executor(registry.executor, self._timed, call)
        finally:
            registry.end_call()

    def _timed(self, call: Call) -> Outputs:
        start = time.perf_counter()
        outputs = call.execute()
        seconds = time.perf_counter() - start
        call.sig.last_run_seconds = seconds
        if self._registry.on_runtime is not None:
            self._registry.on_runtime(self.servable.name, call.api, seconds)
        return outputs

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self._registry._release(self._entry)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}"


def aspired_versions(policy: VersionPolicy, on_disk: dict[int, str]) -> set[int]:
    """The versions the policy wants among those on disk (TF Serving's FileSystemStoragePathSource)."""
    if policy.kind == "latest":
        return set(sorted(on_disk, reverse=True)[: max(policy.num_versions, 1)])
    if policy.kind == "specific":
        return {v for v in policy.versions if v in on_disk}
    return set(on_disk)


class ModelRegistry:
    def __init__(self, configs: list[ModelConfig], loader: Loader, executor: Executor,
                 batching: BatchingOptions | None = None,
                 on_batch: BatchObserver | None = None,
                 on_runtime: RuntimeObserver | None = None,
                 allow_labels_for_unavailable: bool = False,
                 seed: int | None = None) -> None:
        self._loader = loader
        self.executor = executor
        self._batching = batching
        self._on_batch = on_batch
        self.on_runtime = on_runtime
        self._in_flight = 0  # model calls in flight, across the REST and gRPC loops
        self._in_flight_lock = threading.Lock()
        self.allow_labels_for_unavailable = allow_labels_for_unavailable
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # one poll at a time (poller thread vs an explicit poll)
        self._models: dict[str, _Model] = {c.name: _Model(c) for c in configs}
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- requests -------------------------------------------------------------------------

    def begin_call(self) -> int:
        """Count a model call in; returns how many are in flight, this one included."""
        with self._in_flight_lock:
            self._in_flight += 1
            return self._in_flight

    def end_call(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def is_known(self, name: str) -> bool:
        return name in self._models

    def acquire(self, name: str, version: int | None = None, label: str | None = None) -> Handle:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                what = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
                raise not_found(f"Servable not found for request: {what}")
            entry = self._resolve(model, version, label)
            entry.refs += 1
        return Handle(self, entry)

    def _resolve(self, model: _Model, version: int | None, label: str | None) -> LoadedVersion:
        name = model.config.name
        if label is not None:
            version = model.config.labels.get(label)
            if version is None:
                raise invalid(f"Unrecognized servable version label: {label}")
        if version is not None:
            entry = model.loaded.get(version)
            if entry is None:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            return entry
        split = model.config.traffic_split
        if split is not None:
            for target_name in split.ordered_choices(self._rng):
                target = int(target_name) if target_name.isdigit() else model.config.labels.get(target_name)
                if target is not None and target in model.loaded:
                    return model.loaded[target]
        if model.latest is None:
            raise not_found(f"Servable not found for request: Latest({name})")
        return model.latest

    def _release(self, entry: LoadedVersion) -> None:
        with self._lock:
            entry.refs -= 1
            finalize = entry.retiring and entry.refs == 0
        if finalize:
            self._finalize(entry)

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """TF Serving's GetModelStatus: every version known, newest first (a label is not looked at)."""
        with self._lock:
            model = self._models.get(name)
            statuses = dict(model.statuses) if model is not None else {}
        if version is not None:
            if version not in statuses:
                raise not_found(f"Could not find version {version} of model {name}")
            return [statuses[version]]
        if not statuses:
            raise not_found(f"Could not find any versions of model {name}")
        return [statuses[v] for v in sorted(statuses, reverse=True)]

    # ---- configuration --------------------------------------------------------------------

    def check_labels(self, configs: list[ModelConfig]) -> None:
        """TF Serving's label rule: a label may only point to a version available now, unless
        labels for unavailable models are allowed, and then only a new (or unmoved) label."""
        with self._lock:
            for config in configs:
                model = self._models.get(config.name)
                available = model.serving() if model is not None else set()
                for label, version in sorted(config.labels.items()):
                    existing = model.config.labels.get(label) if model is not None else None
                    allowed = self.allow_labels_for_unavailable and existing in (None, version)
                    if not allowed and version not in available:
                        raise ServingConfigError(
                            f"Request to assign label to version {version} of model {config.name}, which is not "
                            "currently available for inference", code="FAILED_PRECONDITION")

    def set_configs(self, configs: list[ModelConfig]) -> None:
        """Apply a new model list (labels already checked): add models, drop removed ones, take
        new policies, labels and base paths. Versions keep serving until their replacements load."""
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
                        model.failed.clear()
                        model.last_seen.clear()
                        model.scanned = False
                        log.info("model %s: base path now %s; the loaded versions serve until versions from "
                                 "there are available", name, config.base_path)
                    model.config = config
        for entry in retired:
            self._finalize(entry)

    # ---- polling --------------------------------------------------------------------------

    def poll_once(self) -> None:
        with self._poll_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                try:
                    self._poll_model(model)
                except Exception:  # one model's trouble must not stop the others
                    log.exception("model %s: polling %s failed", model.config.name, model.config.base_path)

    def start_polling(self, interval_seconds: float, before_poll: Callable[[], None] | None = None) -> None:
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

    def _poll_model(self, model: _Model) -> None:
        config = model.config
        try:
            on_disk = storage.list_versions(config.base_path)
        except storage.BasePathUnavailable as e:
            # as TF Serving: a base path that cannot be listed changes nothing (it may be a blip)
            model.warn_once(f"base path {config.base_path} cannot be listed ({e.strerror}); waiting for versions")
            return
        first_scan = not model.scanned
        model.scanned = True
        aspired = aspired_versions(config.policy, on_disk)
        if not on_disk:
            model.warn_once(f"no version found under {config.base_path} (version directories are numbers, "
                            "e.g. 1/)")
        elif not aspired:
            model.warn_once(f"policy {config.policy.describe()} matches no version under {config.base_path} "
                            f"(found: {', '.join(map(str, sorted(on_disk)))}); the loaded versions keep serving")
            return
        else:
            model.warned = ""
        self._unload_unaspired(model, aspired)
        fingerprints: dict[int, tuple[object, ...]] = {}
        for version in sorted(aspired - model.serving(), reverse=True):  # newest first: it serves soonest
            path = on_disk[version]
            fp = fingerprints[version] = storage.fingerprint(path)
            if self._ready_to_load(model, version, path, fp, first_scan):
                self._load(model, version, path, fp)
        model.last_seen = fingerprints
        self._unload_unaspired(model, aspired)

    def _unload_unaspired(self, model: _Model, aspired: set[int]) -> None:
        """AvailabilityPreservingPolicy: unaspired versions go once an aspired one serves; until
        then only the newest unaspired one is kept (none when nothing at all is aspired)."""
        with self._lock:
            if self._models.get(model.config.name) is not model:
                retired = self._retire_locked(model, list(model.loaded))
            else:
                ready = aspired & model.serving()
                unaspired = sorted(e.version for e in model.loaded.values()
                                   if e.version not in ready)
                keep = [] if ready or not aspired else unaspired[-1:]
                retired = self._retire_locked(model, [v for v in unaspired if v not in keep])
        for entry in retired:
            self._finalize(entry)

    def _ready_to_load(self, model: _Model, version: int, path: str, fp: tuple[object, ...],
                       first_scan: bool) -> bool:
        stable = first_scan or model.last_seen.get(version) == fp
        if model.failed.get(version) == fp:
            return False
        missing = storage.missing_parts(path)
        if missing:
            if stable:
                model.failed[version] = fp
                msg = f"{path} is incomplete (missing {', '.join(missing)}); will retry when it changes"
                log.warning("model %s version %d: %s", model.config.name, version, msg)
                with self._lock:
                    model.set_status(VersionStatus(version, "END", "NOT_FOUND", msg))
            return False
        return stable  # still being written, perhaps: look again at the next poll

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
        entry = LoadedVersion(model, version, servable, self._scheduler(name, version, servable), model.config.base_path)
        with self._lock:
            replaced = model.loaded.get(version)  # the same number from the previous base path
            model.loaded[version] = entry
            model.latest = model.loaded[max(model.loaded)]
            model.failed.pop(version, None)
            model.set_status(VersionStatus(version, "AVAILABLE"))
            retired = []
            if replaced is not None:
                replaced.retiring = True
                retired = [replaced] if replaced.refs == 0 else []
        for old in retired:
            self._finalize(old, set_status=False)
        log.info("model %s version %d is available", name, version)
        return True

    def _scheduler(self, name: str, version: int, servable: Servable) -> BatchScheduler | None:
        if self._batching is None:
            return None
        if servable.batching_params is None:
            log.info("model %s version %d: not batched (its SavedModel has no batching_params.pbtxt declaring "
                     "that its rows are independent); each request runs alone", name, version)
            return None
        options = self._batching
        if options.per_model:
            options = BatchingOptions.from_proto(servable.batching_params, per_model=True)
        observer = self._on_batch
        return BatchScheduler(
            options, (lambda sig, rows, waits: observer(name, version, sig, rows, waits)) if observer else None)

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

    def _finalize(self, entry: LoadedVersion, set_status: bool = True) -> None:
        if entry.scheduler is not None:
            entry.scheduler.close()
        entry.servable.close()
        if set_status and entry.model.loaded.get(entry.version) is not entry:
            with self._lock:
                if entry.model.loaded.get(entry.version) is None:
                    entry.model.set_status(VersionStatus(entry.version, "END"))
        log.info("model %s version %d unloaded", entry.model.config.name, entry.version)

