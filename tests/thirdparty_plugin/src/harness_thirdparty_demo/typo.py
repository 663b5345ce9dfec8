"""A plugin with a misspelt hook (``harness_register_encoder``, no ``s``): reported, not silently ignored."""

from harness import EncoderRegister, SuiteRegister, hookimpl


@hookimpl
def harness_register_encoder(register: EncoderRegister) -> None:
    register("typo-hash", lambda settings: None, "never registered: the hook name is wrong")


@hookimpl
def harness_register_suites(register: SuiteRegister) -> None:
    register("demo-typo", ["demo-sts"], "the plugin's correctly spelt hook still works")
