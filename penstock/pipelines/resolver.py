"""Moved to ``penstock.dsl.resolver``; this alias stays for one release."""

from penstock.dsl.resolver import *  # noqa: F403
