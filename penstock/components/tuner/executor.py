"""Executor of :class:`penstock.components.tuner.Tuner` (imported only when it runs).

This process calls ``tuner_fn`` once and owns the resulting tuner's oracle. With more than one
worker it serves that oracle over KerasTuner's own gRPC protocol on loopback (the servicer
KerasTuner's chief uses, without its polling loop) and starts ``workers - 1`` processes
(``penstock.components.tuner.worker``) that build their own tuner with ``tuner_fn`` and ask the
oracle for trials; this process searches too. Every trial ends up in the oracle, so the best
hyperparameters and the record of all trials are read from it once the workers are done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from penstock import _env
from penstock.components.trainer.executor import common_fn_args
from penstock.errors import ExecutionError, UserCodeError
from penstock.runtime.context import ExecutorContext
from penstock.runtime.user_code import describe_user_exception
from penstock.runtime.user_functions import resolve_user_function
from penstock.storage import filesystem, layout
from penstock.storage import hyperparameters as hyperparameters_io

_LOG_TAIL = 3000


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_workers(requested: int | None, max_trials: int | None, cores: int) -> int:
    """Processes searching together: as many as requested (default: one per core), never more
    than the cores nor than the trials there are to run."""
    workers = min(requested or cores, cores)
    if max_trials:
        workers = min(workers, int(max_trials))
    return max(1, workers)


def check_keras_tuner(component_id: str) -> None:
    """KerasTuner must use the Keras TensorFlow uses (see ``penstock._env.use_keras_2``)."""
    from keras_tuner.src.backend import config

    if _env.legacy_keras() and config.multi_backend():
        raise ExecutionError(
            component_id,
            "keras_tuner was imported with Keras 3 before penstock could point it at Keras 2 (tf_keras), so it "
            "would reject every tf_keras model: import keras_tuner after penstock, or not before the run starts",
        )


def as_tuner_fn_result(component_id: str, where: str, result: Any) -> tuple[Any, dict[str, Any]]:
    tuner = getattr(result, "tuner", None)
    fit_kwargs = getattr(result, "fit_kwargs", None)
    if tuner is None and isinstance(result, tuple) and len(result) == 2:
        tuner, fit_kwargs = result
    if tuner is None or not hasattr(tuner, "search") or not hasattr(tuner, "oracle"):
        raise UserCodeError(f"{component_id}: {where} must return TunerFnResult(tuner=<a KerasTuner tuner>, "
                            f"fit_kwargs={{...}}), got {type(result).__name__}")
    return tuner, dict(fit_kwargs or {})


def run(ctx: ExecutorContext) -> None:
    _env.skip_autograph_for_libraries()
    check_keras_tuner(ctx.component_id)
    params = ctx.parameters
    tuner_fn, where = resolve_user_function(ctx.component_id, params, "tuner_fn", "tuner_fn")
    fn_args = common_fn_args(ctx, os.path.join(ctx.tmp_dir, "tuner-0"))
    try:
        tuner, fit_kwargs = as_tuner_fn_result(ctx.component_id, where, tuner_fn(fn_args))
    except UserCodeError:
        raise
    except Exception as e:
        raise UserCodeError(f"{ctx.component_id}: {where} raised {describe_user_exception(e)}") from e
    fit_kwargs.setdefault("verbose", 0)  # per-trial progress bars would drown the run's output
    workers = plan_workers(params["num_parallel_trials"], getattr(tuner.oracle, "max_trials", None), available_cores())
    ctx.log.info("Tuner: %s, up to %s trials in %d process(es)", where, tuner.oracle.max_trials, workers)

    if workers == 1:
        _search(ctx, tuner, fit_kwargs, where)
    else:
        with _OracleServer(tuner.oracle, workers) as server:
            processes = _start_workers(ctx, fn_args, workers - 1, server.port)
            try:
                _search(ctx, tuner, fit_kwargs, where)
            except BaseException:
                for process, _ in processes:
                    process.kill()
                raise
            finally:
                failures = _wait(processes)
            if failures:
                raise UserCodeError(f"{ctx.component_id}: {len(failures)} tuner worker(s) failed:\n" + "\n".join(failures))
    record(ctx, tuner, workers)


def _search(ctx: ExecutorContext, tuner: Any, fit_kwargs: dict[str, Any], where: str) -> None:
    try:
        tuner.search(**fit_kwargs)
    except Exception as e:
        raise UserCodeError(f"{ctx.component_id}: the search of the tuner {where} built raised "
                            f"{describe_user_exception(e)}") from e


class _OracleServer:
    """The oracle, served to worker processes on a loopback port (KerasTuner's protocol)."""

    def __init__(self, oracle: Any, workers: int) -> None:
        self.oracle = oracle
        self.workers = workers
        self.server: Any = None
        self.port = 0

    def __enter__(self) -> _OracleServer:
        from concurrent import futures

        import grpc
        from keras_tuner.src import protos
        from keras_tuner.src.distribute import oracle_chief

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.workers + 1))
        protos.get_service_grpc().add_OracleServicer_to_server(oracle_chief.OracleServicer(self.oracle), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)


def _start_workers(ctx: ExecutorContext, fn_args: Any, count: int, port: int) -> list[tuple[subprocess.Popen[bytes], str]]:
    penstock_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    pythonpath = os.pathsep.join(p for p in [penstock_root, os.environ.get("PYTHONPATH", "")] if p)
    processes = []
    for index in range(1, count + 1):
        working_dir = os.path.join(ctx.tmp_dir, f"tuner-{index}")
        os.makedirs(working_dir, exist_ok=True)
        spec_path = os.path.join(working_dir, "worker.json")
        fields = {k: v for k, v in vars(fn_args).items() if k != "data_accessor"}
        with open(spec_path, "w") as f:
            json.dump({"component_id": ctx.component_id, "parameters": dict(ctx.parameters),
                       "fn_args": {**fields, "working_dir": working_dir}}, f)
        env = {**os.environ, "PYTHONPATH": pythonpath, "TF_USE_LEGACY_KERAS": "1",
               "KERASTUNER_TUNER_ID": f"tuner{index}", "KERASTUNER_ORACLE_IP": "127.0.0.1",
               "KERASTUNER_ORACLE_PORT": str(port)}
        log_path = os.path.join(working_dir, "worker.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "penstock.components.tuner.worker", spec_path],
                                       env=env, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd())
        processes.append((process, log_path))
    return processes


def _wait(processes: list[tuple[subprocess.Popen[bytes], str]]) -> list[str]:
    failures = []
    for process, log_path in processes:
        code = process.wait()
        if code != 0:
            with open(log_path, "rb") as f:
                tail = f.read()[-_LOG_TAIL:].decode(errors="replace")
            failures.append(f"worker {os.path.dirname(log_path)} exited with {code}; its log ends:\n{tail}")
    return failures


def trial_records(oracle: Any) -> list[dict[str, Any]]:
    """Every trial the oracle knows: id, status, hyperparameter values, score and metrics."""
    records = []
    for trial in oracle.trials.values():
        metrics = {}
        for name in getattr(trial.metrics, "metrics", {}):
            value = trial.metrics.get_best_value(name)
            if value is not None:
                metrics[name] = float(value)
        records.append({
            "trial_id": trial.trial_id,
            "status": str(trial.status),
            "score": None if trial.score is None else float(trial.score),
            "hyperparameters": dict(trial.hyperparameters.values),
            "metrics": metrics,
        })
    return sorted(records, key=lambda r: str(r["trial_id"]))


def record(ctx: ExecutorContext, tuner: Any, workers: int) -> None:
    """Write the best HyperParameters and every trial, and mirror them in ML Metadata."""
    oracle = tuner.oracle
    trials = trial_records(oracle)
    completed = [t for t in trials if t["status"] == "COMPLETED" and t["score"] is not None]
    if not completed:
        raise UserCodeError(f"{ctx.component_id}: no trial completed ({len(trials)} trial(s): "
                            f"{sorted({t['status'] for t in trials})}); see the tuner's fit_kwargs")
    best_trial = oracle.get_best_trials(1)[0]
    best_config = best_trial.hyperparameters.get_config()
    best = ctx.output("best_hyperparameters")
    hyperparameters_io.save_best(best, best_config)
    objective = getattr(oracle, "objective", None)
    best.custom_properties.update({
        "values": json.dumps(best_trial.hyperparameters.values, sort_keys=True, default=str),
        "score": float(best_trial.score),
        "objective": str(getattr(objective, "name", objective)),
        "trial_id": str(best_trial.trial_id),
    })
    results = ctx.output("tuner_results")
    # TFX's tuner_results.json: completed trials, best first, hyperparameter values inlined.
    best_first = [t for t in (r for tr in oracle.get_best_trials(len(oracle.trials)) for r in trials
                              if r["trial_id"] == tr.trial_id) if t in completed]
    filesystem.write_json(filesystem.join(results.uri, layout.TUNER_RESULTS_FILE),
                          [{"trial_id": t["trial_id"], "score": t["score"], **t["hyperparameters"]} for t in best_first])
    filesystem.write_json(filesystem.join(results.uri, layout.TUNER_TRIALS_FILE), trials)
    results.custom_properties.update({
        "trial_count": len(trials),
        "completed_trials": len(completed),
        "parallel_processes": workers,
        "trials": json.dumps(trials, sort_keys=True, default=str)[:60000],
    })
    ctx.log.info("Tuner: %d trial(s) in %d process(es); best %s = %.4g with %s", len(completed), workers,
                 getattr(objective, "name", "score"), best_trial.score, best_trial.hyperparameters.values)
