"""The pipeline DSL: artifacts, channels, components, resolvers, pipelines, cache and retry policies."""
