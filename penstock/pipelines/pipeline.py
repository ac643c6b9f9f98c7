"""Moved to ``penstock.dsl.pipeline``; this alias stays for one release."""

from penstock.dsl.pipeline import *  # noqa: F403
