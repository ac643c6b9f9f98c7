"""StatisticsGen: TFDV statistics for every split of an Examples artifact.

``component.py`` declares it (importing nothing heavy); ``executor.py`` runs it.
"""

from penstock.components.statistics_gen.component import StatisticsGen

__all__ = ["StatisticsGen"]
