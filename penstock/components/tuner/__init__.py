"""Tuner: hyperparameter search with KerasTuner, trials in parallel worker processes.

A module file defines ``tuner_fn(fn_args) -> TunerFnResult(tuner, fit_kwargs)`` (TFX's
contract); the best HyperParameters become an artifact the Trainer consumes
(``Trainer(hyperparameters=tuner.outputs["best_hyperparameters"])``). Nothing heavy is imported
here.
"""

from penstock.components.tuner.component import Tuner, TunerFnResult

__all__ = ["Tuner", "TunerFnResult"]
