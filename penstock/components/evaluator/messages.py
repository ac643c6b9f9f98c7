"""The cause of a failed TFMA evaluation, said in one line.

TFMA reports a model that cannot be called on the evaluation rows as ``ValueError: Fail to call
signature func with signature_name: transform_features. the inputs are: .``; the cause (TensorFlow's
``Feature: class (data type: string) is required but could not be found``) sits in the chained
exception, ~150 lines further down the traceback. This finds it in the whole chain (Beam re-raises
with the original as context) and names the feature and the signature.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from penstock.errors import InputDataError, PenstockError

_MISSING_FEATURE = re.compile(r"Feature: (\S+) \(data type: (\w+)\) is required but could not be found")
_SIGNATURE = re.compile(r"Fail to call signature func with signature_name: (\w+)")


def explain(error: BaseException) -> str | None:
    """A one-line cause for a known TFMA failure, or None."""
    text = "".join(traceback.format_exception(error))
    missing = _MISSING_FEATURE.search(text)
    if missing is None:
        return None
    signature = _SIGNATURE.search(text)
    called = f"the model's {signature.group(1)!r} signature" if signature else "the model"
    return (f"the evaluation examples lack feature {missing.group(1)!r} ({missing.group(2)}), which {called} "
            "requires: every example must hold each raw feature the model reads, the label included when the "
            "transform graph reads it (do these rows come from a source without the label?)")


@contextmanager
def tfma_failures_explained() -> Iterator[None]:
    """Re-raise a TFMA failure whose cause is known as an InputDataError saying it."""
    try:
        yield
    except PenstockError:
        raise
    except Exception as e:
        cause = explain(e)
        if cause is None:
            raise
        raise InputDataError(cause) from e
