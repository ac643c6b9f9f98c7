"""Worker processes that run a pipeline run's heavy executors, so a run does not wait on imports.

A fresh ``penstock run`` used to spend its first ~10-15 s importing TensorFlow, Beam, TFDV, TFT
and TFMA on its critical path (in a background thread, which the GIL keeps from overlapping
much). Now the run starts a worker process at its first execution that imports that stack on
the other core while ExampleGen reads in this one, and the components that need the stack run
there (``host``). Opt in to a warm daemon (``penstock warm``, ``daemon``) and a run forks a
worker from a process that imported the stack before the run began: no import at all.

- ``protocol``: the messages (an execution, its result or failure, log records, output).
- ``process``: the worker side: serves one run over one connection.
- ``client``: this side of one connection.
- ``host``: which executions go to a worker, starting and replacing workers.
- ``daemon``: the warm daemon, which forks a fresh worker per run.

Nothing here is imported unless a run uses a worker.
"""
