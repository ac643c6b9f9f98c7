"""``tfx.components.trainer.fn_args_utils``: what ``run_fn`` and ``tuner_fn`` receive."""

from penstock.components.trainer.fn_args_utils import DataAccessor, FnArgs

__all__ = ["DataAccessor", "FnArgs"]
