"""What both sides of bench/vs_tfx_scale.py share: steps, evaluation, Beam mode.

Plain Python with no imports, so TFX's Python 3.10 virtualenv (bench/tfx/taxi_tfx.py) and
penstock's (bench/taxi_scale/pipeline.py) read the very same values. The model and the
preprocessing are TFX's own ``taxi_utils_native_keras.py`` (shipped in the tfx wheel) on both
sides; penstock runs a copy whose only change is the import of ``FnArgs``/``DataAccessor``.
"""

# TFX's taxi_pipeline_native_keras.py: 1000 train steps, 150 eval steps (batch 40 in the module).
TRAIN_STEPS = 1000
EVAL_STEPS = 150

# Both systems' Beam mode: DirectRunner in memory, one worker (the environment's measurements
# found it the fastest on 2 cores for both; TFX's example uses multi_processing).
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

# TFX's example EvalConfig (BinaryAccuracy >= 0.6 plus a change threshold), with two slicing
# specs added so TFMA computes sliced metrics at scale (24 hours, ~7 payment types).
EVAL_CONFIG = {
    "model_specs": [{
        "signature_name": "serving_default",
        "label_key": "tips_xf",
        "preprocessing_function_names": ["transform_features"],
    }],
    "slicing_specs": [{}, {"feature_keys": ["trip_start_hour"]}, {"feature_keys": ["payment_type"]}],
    "metrics_specs": [{
        "metrics": [{
            "class_name": "BinaryAccuracy",
            # Judged on the overall slice, as in TFX's example (which has no other slice).
            "per_slice_thresholds": [{
                "slicing_specs": [{}],
                "threshold": {
                    "value_threshold": {"lower_bound": 0.6},
                    "change_threshold": {"direction": "HIGHER_IS_BETTER", "absolute": -1e-10},
                },
            }],
        }],
    }],
}

# The module file inside the tfx wheel, relative to site-packages, and the one line the penstock
# copy changes (TFX's FnArgs/DataAccessor -> penstock's, field for field the same).
TFX_MODULE = "tfx/examples/chicago_taxi_pipeline/taxi_utils_native_keras.py"
TFX_IMPORTS = (
    "from tfx.components.trainer.fn_args_utils import DataAccessor\n"
    "from tfx.components.trainer.fn_args_utils import FnArgs\n"
)
PENSTOCK_IMPORTS = "from penstock.components.trainer.fn_args_utils import DataAccessor, FnArgs\n"
