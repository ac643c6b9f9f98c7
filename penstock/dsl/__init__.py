"""The pipeline DSL: what a user declares. Artifacts, channels, components (and function
components), resolvers, pipelines, and the cache and retry policies attached to components.

Declaring a pipeline imports nothing heavy and nothing of the runtime: no ML Metadata, no
TensorFlow, no Beam. What runs a declared pipeline lives in ``penstock.runtime`` and
``penstock.orchestrators``.
"""
