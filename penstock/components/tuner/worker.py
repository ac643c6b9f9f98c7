"""A Tuner worker process: ``python -m penstock.components.tuner.worker SPEC.json``.

Started by the Tuner's executor with KerasTuner's distribution variables set
(``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``/``PORT``): it builds its own tuner with the
user's ``tuner_fn`` and runs the trials the executor's oracle hands it, until the oracle says
the search is over. Exits non-zero (the traceback in its log) when the user's code fails.
"""

from __future__ import annotations

import json
import sys


def main(spec_path: str) -> None:
    from penstock import _env

    _env.use_keras_2()
    _env.quiet_libraries()
    _env.skip_autograph_for_libraries()
    from penstock.components.trainer.executor import data_accessor
    from penstock.components.trainer.fn_args_utils import FnArgs
    from penstock.components.tuner.executor import as_tuner_fn_result, check_keras_tuner
    from penstock.runtime.user_functions import resolve_user_function

    with open(spec_path) as f:
        spec = json.load(f)
    component_id = spec["component_id"]
    check_keras_tuner(component_id)
    tuner_fn, where = resolve_user_function(component_id, spec["parameters"], "tuner_fn", "tuner_fn")
    fn_args = FnArgs(**spec["fn_args"])
    fn_args.data_accessor = data_accessor(fn_args.schema_path, fn_args.transform_graph_path)
    tuner, fit_kwargs = as_tuner_fn_result(component_id, where, tuner_fn(fn_args))
    fit_kwargs.setdefault("verbose", 0)
    tuner.search(**fit_kwargs)


if __name__ == "__main__":
    main(sys.argv[1])
