"""InfraValidator: the candidate must load in penstock's model server and answer like itself.

``component.py`` declares it (importing nothing heavy); ``executor.py`` runs it.
"""

from penstock.components.infra_validator.component import InfraValidator

__all__ = ["InfraValidator"]
