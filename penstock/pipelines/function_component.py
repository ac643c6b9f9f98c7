"""Moved to ``penstock.dsl.function_component``; this alias stays for one release."""

from penstock.dsl.function_component import *  # noqa: F403
