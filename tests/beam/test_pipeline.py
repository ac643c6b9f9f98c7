"""make_pipeline: DirectRunner in-memory by default, other runners' arguments passed through."""

from __future__ import annotations

from penstock.beam.pipeline import effective_args, make_pipeline, runs_in_one_process, uses_local_engine


def test_default_is_direct_runner_in_memory():
    assert effective_args([]) == ["--runner=DirectRunner", "--direct_running_mode=in_memory"]
    assert runs_in_one_process(None)
    options = make_pipeline([]).options.get_all_options()
    assert options["runner"] == "DirectRunner"
    assert options["direct_running_mode"] == "in_memory"


def test_direct_runner_modes_and_other_runners_pass_through():
    mp = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert effective_args(mp) == ["--runner=DirectRunner", *mp]
    assert not runs_in_one_process(mp)
    portable = ["--runner", "PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=LOOPBACK"]
    assert effective_args(portable) == portable
    assert not runs_in_one_process(portable)
    options = make_pipeline(portable).options.get_all_options()
    assert options["job_endpoint"] == "localhost:8099"


def test_data_components_skip_beam_only_when_no_runner_is_chosen():
    assert uses_local_engine(None)
    assert uses_local_engine(["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert not uses_local_engine(["--runner=DirectRunner"])
    assert not uses_local_engine(["--runner", "DirectRunner"])
    assert not uses_local_engine(["--direct_running_mode=multi_processing"])
    assert not uses_local_engine(["--runner=PortableRunner", "--job_endpoint=localhost:8099"])


def test_options_views_are_made_once_and_read_and_write_the_options_as_beam_s_do():
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, TypeOptions

    args = ["--direct_num_workers=3", "--experiments=a"]
    ours, beams = make_pipeline(args).options, PipelineOptions(effective_args(args))
    for cls in (StandardOptions, DirectOptions, TypeOptions):
        view, expected = ours.view_as(cls), beams.view_as(cls)
        assert ours.view_as(cls) is view  # made once
        assert {n: getattr(view, n) for n in view._visible_option_list()} == \
            {n: getattr(expected, n) for n in expected._visible_option_list()}
    ours.view_as(StandardOptions).streaming = True  # a write through a view reaches the options and every view
    assert ours.get_all_options()["streaming"] is True and ours.view_as(StandardOptions).streaming is True
    ours.view_as(DirectOptions).direct_num_workers = 5
    assert ours.get_all_options()["direct_num_workers"] == 5
    assert ours.get_all_options(drop_default=True) == {**beams.get_all_options(drop_default=True),
                                                       "streaming": True, "direct_num_workers": 5}
