"""Moved to ``penstock.dsl.component``; this alias stays for one release."""

from penstock.dsl.component import *  # noqa: F403
