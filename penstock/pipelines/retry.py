"""Moved to ``penstock.dsl.retry``; this alias stays for one release."""

from penstock.dsl.retry import *  # noqa: F403
