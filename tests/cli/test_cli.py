"""The penstock CLI: starts without heavy libraries, and inspects what runs recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import PENSTOCK, PROJECT_ROOT

HEAVY = ("tensorflow", "apache_beam", "tensorflow_data_validation", "tensorflow_transform",
         "tensorflow_model_analysis", "kfp", "ml_metadata", "airflow")


def _cli(args, cwd, **env):
    return subprocess.run([*PENSTOCK, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": PROJECT_ROOT, **env})


def test_import_and_help_load_no_heavy_library():
    probe = textwrap.dedent(f"""
        import sys
        import penstock, penstock.dsl.pipeline, penstock.dsl.function_component
        from penstock.cli import cli
        try:
            cli.main(["--help"], standalone_mode=False)
        except SystemExit:
            pass
        loaded = [m for m in {HEAVY!r} if m in sys.modules]
        print("LOADED", loaded)
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out
    assert "run" in out and "lineage" in out


def test_run_runs_show_and_lineage(tmp_path):
    (tmp_path / "pipe.py").write_text(textwrap.dedent("""
        import os
        from penstock.dsl.function_component import component, InputArtifact, OutputArtifact
        from penstock.dsl.pipeline import Pipeline
        from penstock.dsl.standard_artifacts import Examples, Model

        @component
        def load(examples: OutputArtifact[Examples]):
            open(os.path.join(examples.uri, "data"), "w").write("rows")

        @component
        def fit(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
            open(os.path.join(model.uri, "weights"), "w").write("w")

        source = load()
        pipeline = Pipeline("cli-demo", [source, fit(examples=source.outputs.examples)])
    """))
    env = {"PENSTOCK_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    first = _cli(["run", "pipe.py"], tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert "▶ load" in first.stderr and "✓ fit" in first.stderr and "complete" in first.stderr
    second = _cli(["run", "pipe.py"], tmp_path, **env)
    assert "fit" in second.stderr and "(cached)" in second.stderr

    runs = _cli(["runs"], tmp_path, **env)
    assert runs.returncode == 0 and runs.stdout.count("cli-demo") == 2 and "COMPLETE" in runs.stdout
    shown = _cli(["show"], tmp_path, **env)
    assert "CACHED" in shown.stdout and "hit: reused the outputs of execution" in shown.stdout
    lineage = _cli(["lineage", "1"], tmp_path, **env)
    assert lineage.returncode == 0
    assert "upstream of #1 Examples" in lineage.stdout and "fit execution" in lineage.stdout and "Model" in lineage.stdout

    missing = _cli(["show", "no-such-run"], tmp_path, **env)
    assert missing.returncode == 1 and "no run 'no-such-run'" in missing.stderr
    nostore = _cli(["runs"], tmp_path, PENSTOCK_HOME=str(tmp_path / "empty"))
    assert nostore.returncode == 1 and "no metadata store at" in nostore.stderr
