"""Worker processes that run a pipeline run's heavy executors, so a run does not wait on imports.

A fresh ``penstock run`` spends its first seconds importing TensorFlow, Beam, TFDV, TFT and
TFMA (~10 s of one core; in a background thread of the run's process, which the GIL keeps from
overlapping much). Opt in to the warm daemon (``penstock warm``, ``daemon``) and a run forks a
worker from a process that imported the stack before the run began: no import at all on its
path. ``PENSTOCK_WORKER=process`` instead spawns a worker per run that imports the stack while
ExampleGen reads (opt-in: it pays only when ExampleGen is long enough to hide the imports).

- ``protocol``: the messages (an execution, its result or failure, log records, output).
- ``process``: the worker side: serves one run over one connection.
- ``client``: this side of one connection.
- ``host``: which executions go to a worker, starting and replacing workers.
- ``daemon``: the warm daemon, which forks a fresh worker per run.

Nothing heavy is imported here; ``daemon`` is imported only when a run that executes something
looks for the daemon (a fully cached rerun does not).
"""
