"""Transform: feature engineering with tf.Transform, frozen into a graph the model serves with.

``component.py`` declares it (importing nothing heavy); ``executor.py`` runs it.
"""

from penstock.components.transform.component import Transform

__all__ = ["Transform"]
