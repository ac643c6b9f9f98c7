"""Moved: ``CachePolicy`` to ``penstock.dsl.cache_policy``, ``CacheKey`` to ``penstock.runtime.cache_key``;
this alias stays for one release."""

from penstock.dsl.cache_policy import *  # noqa: F403
from penstock.runtime.cache_key import *  # noqa: F403
