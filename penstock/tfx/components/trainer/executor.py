"""``tfx.components.trainer.executor``: ``GenericExecutor`` (accepted as Trainer's
``custom_executor_spec``; penstock runs ``run_fn`` itself) and ``TrainerFnArgs``."""

from penstock.components.trainer.fn_args_utils import FnArgs as TrainerFnArgs


class GenericExecutor:
    """TFX's run_fn executor: penstock's Trainer is that executor already."""


Executor = GenericExecutor

__all__ = ["Executor", "GenericExecutor", "TrainerFnArgs"]
