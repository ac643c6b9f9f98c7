"""Kubeflow Pipelines: compile a penstock pipeline to a KFP v2 pipeline spec (``compiler``) and run
a compiled spec's container commands on this machine (``local_executor``).

Nothing here imports kfp at module level; the compiler imports it when it compiles.
"""

from penstock.orchestrators.kubeflow.compiler import CompileResult, compile_kubeflow

__all__ = ["CompileResult", "compile_kubeflow"]
