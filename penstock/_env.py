"""Process-wide settings that must be in place before TensorFlow is imported anywhere.

TFT 1.16 and TFMA 0.47 need Keras 2 (``tf_keras``); TensorFlow reads ``TF_USE_LEGACY_KERAS``
only when it is first imported. The rest silences library noise users cannot act on (CUDA
factory registration lines on CPU machines, FutureWarnings about Python support dates).
Importing this module is cheap: it imports nothing heavy.
"""

from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def quiet_libraries() -> None:
    """Hide library noise unless PENSTOCK_VERBOSE is set."""
    if os.environ.get("PENSTOCK_VERBOSE"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*TF2 support.*")
    warnings.filterwarnings("ignore", message=".*is deprecated.*")
    for name in ("absl", "tensorflow", "apache_beam", "tensorflow_model_analysis", "tfx_bsl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


quiet_libraries()
