"""SchemaGen (a schema inferred from statistics) and ImportSchemaGen (a user's schema file).

``component.py`` declares it (importing nothing heavy); ``executor.py`` runs it.
"""

from penstock.components.schema_gen.component import ImportSchemaGen, SchemaGen

__all__ = ["ImportSchemaGen", "SchemaGen"]
