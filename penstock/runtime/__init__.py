"""What runs one component: the executor's context, cache keys, user code, the execution of a
node inside a run (resolve, cache, run, publish, record) and its states. Shared by every
orchestrator (``penstock.orchestrators``)."""
