"""Benchmark: how long `penstock compile` takes (target <= 2 s; TFX's KubeflowV2DagRunner ~33 s).

Compiles the penguin pipeline (examples/penguin/pipeline.py) when it exists, else a representative
penguin-shaped pipeline of the standard components (CsvExampleGen, StatisticsGen, SchemaGen,
ExampleValidator, Transform) plus function components standing in for the trainer, the model
resolver, the evaluator and the pusher. Measures:

- wall time of `python -m penstock compile --target kubeflow ...` in a fresh process (median of N),
- the same for `--target airflow`,
- in-process: loading the pipeline file, the first compile (which imports kfp) and later compiles,
- the kfp import alone, and which heavy libraries a compile imports (none is the goal).

Prints the figures and writes bench/results/compile.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
PENGUIN = REPO / "examples" / "penguin" / "pipeline.py"
RESULTS = REPO / "bench" / "results" / "compile.json"
RUNS = 5
TARGET_S = 2.0
TFX_KUBEFLOW_V2_S = 33.0  # as reported in the issue (TFX 1.16 KubeflowV2DagRunner, penguin); not measured here
HEAVY = ["tensorflow", "apache_beam", "tensorflow_data_validation", "tensorflow_transform",
         "tensorflow_model_analysis", "kubernetes", "airflow"]

REPRESENTATIVE = textwrap.dedent('''
    """Penguin-shaped pipeline for the compile benchmark (used when examples/penguin/pipeline.py is absent)."""
    import os

    from penstock.components.example_gen import CsvExampleGen
    from penstock.components.example_validator.component import ExampleValidator
    from penstock.components.schema_gen.component import SchemaGen
    from penstock.components.statistics_gen.component import StatisticsGen
    from penstock.components.transform.component import Transform
    from penstock.dsl.channel import Channel
    from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
    from penstock.dsl.pipeline import Pipeline
    from penstock.dsl.resolver import LatestBlessedModel, Resolver
    from penstock.dsl.standard_artifacts import (
        Examples, Model, ModelBlessing, ModelEvaluation, PushedModel, TransformGraph,
    )

    HERE = os.path.dirname(os.path.abspath(__file__))


    @component
    def trainer(examples: InputArtifact[Examples], transform_graph: InputArtifact[TransformGraph],
                model: OutputArtifact[Model], train_steps: int = 100):
        pass


    @component
    def evaluator(model: InputArtifact[Model], examples: InputArtifact[Examples],
                  baseline_model: InputArtifact[Model] = None, evaluation: OutputArtifact[ModelEvaluation] = None,
                  blessing: OutputArtifact[ModelBlessing] = None, threshold: float = 0.6):
        pass


    @component
    def pusher(model: InputArtifact[Model], blessing: InputArtifact[ModelBlessing],
               pushed_model: OutputArtifact[PushedModel], base_directory: str = "gs://bucket/serving"):
        pass


    example_gen = CsvExampleGen(input_base="gs://bucket/penguin/data")
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                         schema=schema_gen.outputs["schema"])
    transform = Transform(examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
                          module_file=os.path.join(HERE, "penguin_utils.py"))
    train = trainer(examples=transform.outputs["transformed_examples"],
                    transform_graph=transform.outputs["transform_graph"])
    latest_blessed = Resolver(LatestBlessedModel(), model=Channel(Model),
                              model_blessing=Channel(ModelBlessing)).with_id("latest_blessed_model")
    evaluate = evaluator(model=train.outputs["model"], examples=example_gen.outputs["examples"],
                         baseline_model=latest_blessed.outputs["model"])
    push = pusher(model=train.outputs["model"], blessing=evaluate.outputs["blessing"])
    pipeline = Pipeline("penguin", [example_gen, statistics_gen, schema_gen, example_validator, transform, train,
                                    latest_blessed, evaluate, push],
                        pipeline_root="gs://bucket/penstock", metadata="mysql://ml@mysql:3306/mlmd")
''')


def _pipeline_file(workdir: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, str]:
    """(project dir, pipeline file, description)."""
    if PENGUIN.exists():
        return REPO, PENGUIN, "examples/penguin/pipeline.py"
    (workdir / "penguin_utils.py").write_text("def preprocessing_fn(inputs):\n    return inputs\n")
    path = workdir / "pipeline.py"
    path.write_text(REPRESENTATIVE)
    return workdir, path, "representative penguin-shaped pipeline (examples/penguin/pipeline.py absent)"


def _kubeflow_args(pipeline_file: pathlib.Path, output: pathlib.Path) -> list[str]:
    return ["compile", "--target", "kubeflow", str(pipeline_file), "-o", str(output),
            "--image", "registry.example.com/penstock:bench", "--allow-local-paths",
            "--metadata", "mysql://ml@mysql:3306/mlmd", "--pipeline-root", "gs://bucket/penstock"]


def _fresh_process(args: list[str], cwd: pathlib.Path, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "penstock", *args], cwd=cwd, env=env,
                              capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"compile failed:\n{proc.stderr}")
    return times


def _in_process(pipeline_file: pathlib.Path, project: pathlib.Path, output: pathlib.Path,
                env: dict[str, str]) -> dict[str, object]:
    """Time the compile inside one fresh interpreter, phase by phase."""
    code = textwrap.dedent(f"""
        import json, os, sys, time
        os.chdir({str(project)!r})
        t0 = time.perf_counter()
        from penstock.runtime.loader import load_pipeline
        from penstock.orchestrators.kubeflow.compiler import compile_kubeflow
        pipeline = load_pipeline({str(pipeline_file)!r})
        t1 = time.perf_counter()
        def once():
            return compile_kubeflow(pipeline, {str(pipeline_file)!r}, {str(output)!r},
                                    image="registry.example.com/penstock:bench", allow_local_paths=True,
                                    metadata="mysql://ml@mysql:3306/mlmd", pipeline_root="gs://bucket/penstock")
        result = once()
        t2 = time.perf_counter()
        warm = []
        for _ in range(5):
            s = time.perf_counter(); once(); warm.append(time.perf_counter() - s)
        print(json.dumps({{
            "load_pipeline_s": t1 - t0,
            "first_compile_s": t2 - t1,
            "warm_compile_s": sorted(warm)[len(warm) // 2],
            "tasks": len(result.tasks),
            "heavy_modules_imported": [m for m in {HEAVY!r} if m in sys.modules],
        }}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"in-process compile failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _import_time(statement: str, env: dict[str, str]) -> float:
    code = f"import time; s = time.perf_counter(); {statement}; print(time.perf_counter() - s)"
    return float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)


def main() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        env["PENSTOCK_HOME"] = str(workdir / "home")
        project, pipeline_file, description = _pipeline_file(workdir)
        kubeflow = _fresh_process(_kubeflow_args(pipeline_file, workdir / "penguin.yaml"), project, env)
        airflow = _fresh_process(["compile", "--target", "airflow", str(pipeline_file),
                                  "-o", str(workdir / "penguin_dag.py")], project, env)
        phases = _in_process(pipeline_file, project, workdir / "penguin-inproc.yaml", env)
        spec_bytes = (workdir / "penguin.yaml").stat().st_size
        assert not (workdir / "home").exists(), "compiling wrote to the penstock home / pipeline root"

    kfp_full = _import_time("import kfp", env)
    kfp_compiler = _import_time(
        "from penstock.orchestrators.kubeflow.compiler import import_kfp; import_kfp()", env)
    median_kubeflow = statistics.median(kubeflow)
    results = {
        "pipeline": description,
        "tasks": phases["tasks"],
        "runs": RUNS,
        "kubeflow_fresh_process_s": {"median": median_kubeflow, "min": min(kubeflow), "max": max(kubeflow)},
        "airflow_fresh_process_s": {"median": statistics.median(airflow), "min": min(airflow), "max": max(airflow)},
        "in_process": phases,
        "kfp_import_full_s": kfp_full,
        "kfp_import_as_compiler_does_s": kfp_compiler,
        "spec_bytes": spec_bytes,
        "target_s": TARGET_S,
        "meets_target": median_kubeflow <= TARGET_S,
        "tfx_kubeflow_v2_dag_runner_s_reported": TFX_KUBEFLOW_V2_S,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(f"pipeline: {description} ({phases['tasks']} tasks)")
    print(f"penstock compile --target kubeflow, fresh process: median {median_kubeflow:.2f} s "
          f"(min {min(kubeflow):.2f}, max {max(kubeflow):.2f}; target <= {TARGET_S} s, TFX reported ~{TFX_KUBEFLOW_V2_S:.0f} s)")
    print(f"penstock compile --target airflow, fresh process: median {statistics.median(airflow):.2f} s")
    print(f"in-process: load pipeline {phases['load_pipeline_s']:.3f} s, first compile (imports kfp) "
          f"{phases['first_compile_s']:.3f} s, warm compile {phases['warm_compile_s']:.3f} s")
    print(f"kfp import: full {kfp_full:.2f} s, as the compiler imports it {kfp_compiler:.2f} s")
    print(f"heavy modules imported by a compile: {phases['heavy_modules_imported'] or 'none'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
