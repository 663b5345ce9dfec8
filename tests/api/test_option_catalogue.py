"""Every option every built-in encoder declares has a test that sets it through ``harness run`` and sees it applied.

:data:`OPTION_TESTS` maps (option schema, option) to that test, like ``tests/cli/test_flags.py`` does for flags.
``device`` is the exception: this machine has no GPU, so the tests can only show ``cpu`` applied and a bad
device refused (``cli/test_flags.py::test_option_long_form_and_device_are_the_option_path``); ``cuda`` needs a
device session.
"""

from __future__ import annotations

from harness.pluginhost import get_host
from helpers import function_source

PROMPTS = "baselines/test_prompts.py::test_task_kind_beats_family_kind_beats_kind"
MODEL = {  # harness.ModelOptions, shared by every neural encoder
    "precision": "api/test_encoder_options.py::test_the_label_follows_the_options_that_change_the_vectors",
    "batch_size": "api/test_encoder_options.py::test_batch_tokens_forms_token_budget_batches",
    "batch_tokens": "api/test_encoder_options.py::test_batch_tokens_forms_token_budget_batches",
}
CPT = "api/test_encoder_options.py::test_cpt_options_name_their_results"
CPT_PATH = "cpt/test_training.py::test_trained_checkpoint_evaluates_through_harness_run"
OPTION_TESTS: dict[str, dict[str, str]] = {
    "EncoderOptions": {},
    "SbertOptions": {
        **MODEL,
        "prompts": PROMPTS,
        "backend": "baselines/test_backends.py::test_int8_is_the_backends_own_quantised_export",
    },
    "PooledOptions": {
        **MODEL,
        "prompts": "baselines/test_prompts.py::test_hf_prepends_the_prompt_to_each_text",
        "pooling": "api/test_encoder_options.py::test_the_label_follows_the_options_that_change_the_vectors",
        "max_length": "api/test_encoder_options.py::test_the_label_follows_the_options_that_change_the_vectors",
    },
    "CptOptions": {
        "precision": CPT,
        "batch_size": CPT,
        "batch_tokens": CPT,
        "max_length": CPT,
        "checkpoint": CPT_PATH,
        "untrained": CPT,
        "backbone": "cpt/test_cpt_model.py::test_untrained_preset_can_point_at_a_local_backbone",
    },
    "CptCheckpointOptions": {
        "precision": CPT_PATH,
        "batch_size": CPT_PATH,
        "batch_tokens": CPT_PATH,
        "max_length": CPT_PATH,
    },
    "Bm25Options": {
        name: "baselines/test_bm25.py::test_every_option_on_the_command_line_reaches_the_ranking"
        for name in ("k1", "b", "method", "stemmer", "stopwords")
    },
    "Model2VecOptions": {
        "batch_size": "baselines/test_model2vec_plugin.py::test_batch_size_through_the_cli_reaches_static_model_encode"
    },
    "OpenAIOptions": {
        "dimensions": "baselines/test_openai_api.py::test_options_on_the_command_line_reach_the_requests_and_name_the_results",
        "token_budget": "baselines/test_openai_api.py::test_options_on_the_command_line_reach_the_requests_and_name_the_results",
        "concurrency": "baselines/test_openai_api.py::test_options_on_the_command_line_reach_the_requests_and_name_the_results",
        "base_url": "baselines/test_openai_api.py::test_base_url_timeout_and_retries_on_the_command_line",
        "timeout": "baselines/test_openai_api.py::test_base_url_timeout_and_retries_on_the_command_line",
        "retries": "baselines/test_openai_api.py::test_base_url_timeout_and_retries_on_the_command_line",
        "backoff": "baselines/test_openai_api.py::test_base_url_timeout_and_retries_on_the_command_line",
    },
}
UNTESTABLE_HERE = {"device"}
"""Declared by every neural encoder; only ``cpu`` can be shown applied on this machine (see the docstring)."""


def test_every_declared_option_has_a_command_line_test() -> None:
    schemas = {registration.options for registration in get_host().catalog.encoders.values()}
    assert {schema.__name__ for schema in schemas} == set(OPTION_TESTS), "an encoder schema is missing here (or gone)"
    for schema in schemas:
        declared = set(schema.model_fields) - UNTESTABLE_HERE
        covered = OPTION_TESTS[schema.__name__]
        assert declared == set(covered), (schema.__name__, declared ^ set(covered))
        for option, reference in covered.items():
            source = function_source(reference)
            spellings = {
                f'"--{option.replace("_", "-")}"',
                f'"{option}=',
                f'"{option.replace("_", "-")}=',
                f"{option}={{",
            }
            assert any(s in source for s in spellings), f"{reference} never sets {option} on the command line"
