"""Moved to ``penstock.dsl.standard_artifacts``; this alias stays for one release."""

from penstock.dsl.standard_artifacts import *  # noqa: F403
