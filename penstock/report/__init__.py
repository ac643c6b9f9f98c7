"""Run reports: a self-contained HTML file per run (``penstock report``) and a local web UI over
the whole metadata store (``penstock ui``).

``model`` gathers what ML Metadata and the artifacts hold into plain dicts, ``charts`` turns them
into Vega-Lite specs, ``render`` fills the Jinja2 templates and ``server`` serves the same pages.
"""
