"""Moved to ``penstock.runtime.context``; this alias stays for one release."""

from penstock.runtime.context import *  # noqa: F403
