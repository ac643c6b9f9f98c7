"""Moved to ``penstock.dsl.channel``; this alias stays for one release."""

from penstock.dsl.channel import *  # noqa: F403
