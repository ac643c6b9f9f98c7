"""Evaluator: TFMA metrics per slice for a candidate model, and the verdict on whether to ship it.

``component.py`` declares it (importing nothing heavy); ``executor.py`` runs it.
"""

from penstock.components.evaluator.component import Evaluator

__all__ = ["Evaluator"]
