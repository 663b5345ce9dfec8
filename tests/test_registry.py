"""Names, families, splits and registrations."""

from __future__ import annotations

import pytest

from fakes import HashingEncoder
from harness import EncoderSettings, hookimpl
from harness.errors import UsageError
from harness.pluginhost import PluginHost
from harness.registry import TaskRef


def test_task_ref_parsing() -> None:
    assert TaskRef.parse("sickr@full") == TaskRef("sickr", "full")
    assert TaskRef.parse("stsb") == TaskRef("stsb", None)
    assert TaskRef.parse("beir:/data/x@y/scifact") == TaskRef("beir:/data/x@y/scifact", None)
    assert TaskRef.parse("beir:/data/scifact@dev") == TaskRef("beir:/data/scifact", "dev")


class Family:
    @hookimpl
    def harness_register_encoders(self, register):
        register("hash:", lambda settings: HashingEncoder(dim=int(settings.argument)), "hash:<dim>")


def test_family_names_pass_their_argument() -> None:
    host = PluginHost()
    host.register(Family(), name="family")
    encoder = host.catalog.build_encoder("hash:16", EncoderSettings())
    assert encoder.dim == 16 and encoder.name == "hash:16"
    with pytest.raises(UsageError, match="needs an argument"):
        host.catalog.build_encoder("hash:", EncoderSettings())


class Clash:
    @hookimpl
    def harness_register_encoders(self, register):
        register("hash:", lambda settings: HashingEncoder(), "a second owner")


def test_a_name_registered_twice_keeps_the_first_and_reports_the_second() -> None:
    host = PluginHost()
    host.register(Family(), name="family")
    host.register(Clash(), name="clash")
    assert host.catalog.encoders["hash:"].plugin == "family"
    assert any("ignored: already registered by 'family'" in p for p in host.problems())


class FactoryFails:
    @hookimpl
    def harness_register_encoders(self, register):
        def explode(settings):
            raise FileNotFoundError("weights.bin missing\nmore detail")

        register("explodes", explode)


def test_a_failing_factory_is_one_line_naming_the_plugin() -> None:
    host = PluginHost()
    host.register(FactoryFails(), name="factory-fails")
    with pytest.raises(
        Exception,
        match=r"plugin 'factory-fails' could not build encoder 'explodes': "
        r"FileNotFoundError: weights.bin missing$",
    ):
        host.catalog.build_encoder("explodes", EncoderSettings())


class SubsetArgs:
    """Implements a hook without the argument it does not need (pluggy's rule)."""

    called = False

    @hookimpl
    def harness_register_suites(self):
        SubsetArgs.called = True


def test_hook_implementations_may_take_fewer_arguments() -> None:
    host = PluginHost()
    host.register(SubsetArgs(), name="subset")
    _ = host.catalog
    assert SubsetArgs.called


def test_trace_plugins_prints_every_hook_call(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HARNESS_TRACE_PLUGINS", "1")
    host = PluginHost()
    host.register(Family(), name="family")
    _ = host.catalog
    err = capsys.readouterr().err
    assert "harness: trace: harness_register_encoders of 'family' registered hash:" in err


def test_every_hook_is_documented() -> None:
    import inspect

    from harness import hookspecs

    hooks = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("harness_")]
    assert len(hooks) == 4
    for hook in hooks:
        assert hook.__doc__ and "register(" in hook.__doc__, hook.__name__


class OddFamily:
    @hookimpl
    def harness_register_tasks(self, register):
        from harness.plugins.tasks.sts import stsb

        def make(argument):
            task = stsb()
            task.family = "clustering"
            return task

        register("odd", make)


def test_a_task_of_unknown_family_is_refused() -> None:
    host = PluginHost()
    host.register(OddFamily(), name="odd-family")
    with pytest.raises(Exception, match="has family 'clustering'; expected one of classification"):
        host.catalog.build_task(TaskRef("odd"))


def test_every_suite_names_registered_tasks() -> None:
    from harness.pluginhost import get_host

    catalog = get_host().catalog
    assert {"default", "paper", "classification", "sts", "retrieval", "code-search"} <= set(catalog.suites)
    for suite in catalog.suites.values():
        for ref in catalog.task_refs(None, suite.name):
            catalog.build_task(ref)  # raises on an unknown task or split
