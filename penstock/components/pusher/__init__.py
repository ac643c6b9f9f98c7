"""Pusher: copies a blessed model into a TF Serving model directory.

``component.py`` declares it (importing nothing heavy); ``executor.py`` runs it.
"""

from penstock.components.pusher.component import Pusher

__all__ = ["Pusher"]
