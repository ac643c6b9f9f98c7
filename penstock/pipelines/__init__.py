"""Old home of the DSL, kept for one release so that ``penstock.pipelines.<module>`` imports keep
working: the DSL moved to ``penstock.dsl`` and what runs it to ``penstock.runtime``. New code
imports from ``penstock`` (the public API) or from those packages."""
