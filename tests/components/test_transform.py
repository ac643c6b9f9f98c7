"""Transform: real tf.Transform on Beam over the penguin data; output checked against the frozen
graph applied eagerly; analyzer cache; bad user code reported in user terms."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from penstock.errors import PipelineDefinitionError, UserCodeError
from tests.components import _example_fixtures as fx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transformed():
    return fx.penguin_transform()


@pytest.fixture(scope="module")
def tft_output(transformed):
    import tensorflow_transform as tft

    return tft.TFTransformOutput(transformed.outputs["transform_graph"].uri)


def _rows(features: dict, keys: list[str]) -> np.ndarray:
    return np.column_stack([np.asarray(features[k], dtype=np.float64).reshape(-1) for k in keys])


def test_layout_and_metadata(transformed, tft_output):
    graph_uri = transformed.outputs["transform_graph"].uri
    for sub in ("transform_fn/saved_model.pb", "transformed_metadata/schema.pbtxt", "metadata/schema.pbtxt",
                "pre_transform_stats/FeatureStats.pb", "post_transform_stats/FeatureStats.pb"):
        assert os.path.isfile(os.path.join(graph_uri, sub)), sub
    # The raw metadata is written too, so raw_feature_spec() works (TFT's WriteTransformFn omits it).
    assert set(tft_output.raw_feature_spec()) == {"species", *fx_penguin_features()}
    assert set(tft_output.transformed_feature_spec()) == {"species", *fx_penguin_features()}

    examples = transformed.outputs["transformed_examples"]
    assert examples.split_names == ["train", "eval"]
    assert examples.get_property("span") == 0
    for split in ("train", "eval"):
        files = os.listdir(examples.split_uri(split))
        assert files and all(f.endswith(".gz") for f in files)
    raw_train = fx.read_records(os.path.join(fx.penguin_inputs()[0].split_uri("train"), "*"))
    assert len(fx.read_records(os.path.join(examples.split_uri("train"), "*"))) == len(raw_train)
    assert os.listdir(transformed.outputs["updated_analyzer_cache"].uri)


def fx_penguin_features() -> list[str]:
    return ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]


@pytest.mark.parametrize("split", ["train", "eval"])
def test_beam_output_equals_graph_applied_eagerly(transformed, tft_output, split):
    import tensorflow as tf

    raw = fx.read_records(os.path.join(fx.penguin_inputs()[0].split_uri(split), "*"))
    eager = tft_output.transform_features_layer()(tf.io.parse_example(raw, tft_output.raw_feature_spec()))
    beam = tf.io.parse_example(
        fx.read_records(os.path.join(transformed.outputs["transformed_examples"].split_uri(split), "*")),
        tft_output.transformed_feature_spec())
    keys = ["species", *fx_penguin_features()]
    # Beam does not keep row order: compare the sorted rows.
    expected, actual = _rows(eager, keys), _rows(beam, keys)
    expected = expected[np.lexsort(expected.T[::-1])]
    actual = actual[np.lexsort(actual.T[::-1])]
    np.testing.assert_allclose(actual, expected, atol=1e-6)
    # z-scored with the TRAIN split's statistics.
    if split == "train":
        np.testing.assert_allclose(actual[:, 1:].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(actual[:, 1:].std(axis=0), 1.0, atol=1e-3)


def test_skew_sample_pairs_raw_and_transformed_rows(transformed, tft_output):
    import tensorflow as tf

    from penstock.components.trainer.skew_check import read_sample

    raw, beam = read_sample(transformed.outputs["transform_graph"].uri, 1000)
    n_eval = len(fx.read_records(os.path.join(fx.penguin_inputs()[0].split_uri("eval"), "*")))
    assert len(raw) == min(200, n_eval) > 0
    eager = tft_output.transform_features_layer()(tf.io.parse_example(raw, tft_output.raw_feature_spec()))
    parsed = tf.io.parse_example(beam, tft_output.transformed_feature_spec())
    keys = ["species", *fx_penguin_features()]
    np.testing.assert_allclose(_rows(parsed, keys), _rows(eager, keys), atol=1e-6)
    # Internal pass-through columns never leak into the transformed examples.
    assert set(tf.train.Example.FromString(beam[0]).features.feature) == set(keys)


def test_analyzer_cache_is_reused(transformed, tft_output, tmp_path):
    examples, schema = fx.penguin_inputs()
    again = fx.run_transform(examples, schema, str(tmp_path), cache=transformed.outputs["updated_analyzer_cache"],
                             module_file=fx.PENGUIN_UTILS, skew_sample_rows=0)
    props = again.outputs["transform_graph"].custom_properties
    assert props["cached_datasets"] == 1 and props["analyzed_datasets"] == 1
    import tensorflow_transform as tft

    cached_output = tft.TFTransformOutput(again.outputs["transform_graph"].uri)
    raw = fx.read_records(os.path.join(examples.split_uri("eval"), "*"))[:20]
    import tensorflow as tf

    spec = tft_output.raw_feature_spec()
    a = tft_output.transform_features_layer()(tf.io.parse_example(raw, spec))
    b = cached_output.transform_features_layer()(tf.io.parse_example(raw, spec))
    keys = fx_penguin_features()
    np.testing.assert_allclose(_rows(b, keys), _rows(a, keys), atol=1e-6)


def test_preprocessing_fn_by_import_path(tmp_path, monkeypatch):
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "prep.py").write_text(textwrap.dedent("""
        import tensorflow_transform as tft

        def scale(inputs):
            return {"x": tft.scale_to_0_1(inputs["body_mass_g"]), "species": inputs["species"]}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    examples, schema = fx.penguin_inputs()
    ctx = fx.run_transform(examples, schema, str(tmp_path / "out"), preprocessing_fn="userpkg.prep.scale",
                           transform_splits=["eval"], skew_sample_rows=0)
    import tensorflow as tf
    import tensorflow_transform as tft

    out = tft.TFTransformOutput(ctx.outputs["transform_graph"].uri)
    assert set(out.transformed_feature_spec()) == {"x", "species"}
    records = fx.read_records(os.path.join(ctx.outputs["transformed_examples"].split_uri("eval"), "*"))
    x = np.sort(tf.io.parse_example(records, out.transformed_feature_spec())["x"].numpy().reshape(-1))
    # Analyzed on train only: eval values are scaled with the train split's min and max.
    spec = out.raw_feature_spec()
    train_mass = tf.io.parse_example(fx.read_records(os.path.join(examples.split_uri("train"), "*")), spec)
    eval_mass = tf.io.parse_example(fx.read_records(os.path.join(examples.split_uri("eval"), "*")), spec)
    lo, hi = train_mass["body_mass_g"].numpy().min(), train_mass["body_mass_g"].numpy().max()
    expected = np.sort((eval_mass["body_mass_g"].numpy().reshape(-1) - lo) / (hi - lo))
    np.testing.assert_allclose(x, expected, atol=1e-6)
    assert ctx.outputs["transformed_examples"].split_names == ["eval"]


BAD_MODULES = {
    "raises": ("def preprocessing_fn(inputs):\n    x = inputs['body_mass_g']\n"
               "    raise ValueError('boom in user code')\n", ["boom in user code", "bad.py:3", "preprocessing_fn"]),
    "missing_feature": ("def preprocessing_fn(inputs):\n    return {'y': inputs['wing_span']}\n",
                        ["wing_span", "not in the schema", "bad.py:2", "body_mass_g"]),
    "non_tensor": ("def preprocessing_fn(inputs):\n    return {'y': 3}\n",
                   ["'y'", "must be a tensor", "bad.py:1"]),
    "not_a_dict": ("def preprocessing_fn(inputs):\n    return [inputs['body_mass_g']]\n",
                   ["dict of feature name", "bad.py:1"]),
    "syntax_error": ("def preprocessing_fn(inputs):\n    return {'y': inputs['x']\n", ["syntax error", "bad.py", "line"]),
    "no_function": ("def preprocess(inputs):\n    return inputs\n", ["no function 'preprocessing_fn'", "bad.py"]),
}


@pytest.mark.parametrize("case", sorted(BAD_MODULES))
def test_bad_preprocessing_fn_is_a_user_code_error(case, tmp_path):
    source, expected = BAD_MODULES[case]
    module = tmp_path / "bad.py"
    module.write_text(source)
    examples, schema = fx.penguin_inputs()
    with pytest.raises(UserCodeError) as info:
        fx.run_transform(examples, schema, str(tmp_path / "out"), module_file=str(module))
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert "Traceback" not in message and "graph" not in message.lower()


def test_declaration_needs_exactly_one_source():
    from penstock.components.transform.component import Transform
    from penstock.dsl.channel import Channel
    from penstock.dsl.standard_artifacts import Examples, Schema

    channels = {"examples": Channel(Examples), "schema": Channel(Schema)}
    with pytest.raises(PipelineDefinitionError, match="exactly one of module_file"):
        Transform(**channels)
    with pytest.raises(PipelineDefinitionError, match="exactly one of module_file"):
        Transform(**channels, module_file="a.py", preprocessing_fn="a.b")
    t = Transform(**channels, module_file="a.py")
    assert t.user_code_refs() == ["a.py"]
    assert set(t.outputs) == {"transform_graph", "transformed_examples", "updated_analyzer_cache"}
