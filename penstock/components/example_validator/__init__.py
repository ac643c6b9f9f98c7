"""ExampleValidator: anomalies per split against a schema, optional drift, and a validation gate.

``component.py`` declares it (importing nothing heavy); ``executor.py`` runs it.
"""

from penstock.components.example_validator.component import ExampleValidator

__all__ = ["ExampleValidator"]
