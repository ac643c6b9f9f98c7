"""Moved to ``penstock.dsl.artifact``; this alias stays for one release."""

from penstock.dsl.artifact import *  # noqa: F403
