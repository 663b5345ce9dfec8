"""Names, families, splits and registrations."""

from __future__ import annotations

import pytest

from fakes import HashingEncoder
from harness import CommandRegister, hookimpl
from harness.catalog import TaskRef
from harness.errors import HarnessError, UsageError
from harness.pluginhost import PluginHost
from helpers import REPO


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
    encoder = host.catalog.build_encoder("hash:16", {})
    assert encoder.dim == 16 and encoder.name == "hash:16"
    with pytest.raises(UsageError, match="needs an argument"):
        host.catalog.build_encoder("hash:", {})


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
        host.catalog.build_encoder("explodes", {})


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
    assert len(hooks) == 5
    for hook in hooks:
        assert hook.__doc__ and "register(" in hook.__doc__, hook.__name__


class OddFamily:
    @hookimpl
    def harness_register_tasks(self, register):
        from harness.plugins.tasks.sts.tasks import stsb

        def make():
            task = stsb()
            task.family = "clustering"
            return task

        register("odd", make)


class TaskFactories:
    """A plain name's factory and a family's, each recording what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    @hookimpl
    def harness_register_tasks(self, register):
        from harness.plugins.tasks.sts.tasks import stsb

        def plain(*arguments: str):
            self.calls.append(arguments)
            return stsb()

        register("plain", plain)
        register("fam:", plain)


def test_a_plain_task_factory_gets_no_argument_and_a_family_its_argument() -> None:
    host, factories = PluginHost(), TaskFactories()
    host.register(factories, name="factories")
    assert host.catalog.build_task(TaskRef("plain")).name == "plain"
    assert host.catalog.build_task(TaskRef.parse("fam:some/path@test")).name == "fam:some/path"
    assert factories.calls == [(), ("some/path",)]


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


class Misspelt:
    @hookimpl
    def harness_register_task(self, register):  # 'tasks'
        register("never", lambda argument: None)

    @hookimpl(optionalhook=True)
    def harness_register_someday(self, register):
        """pluggy's optional hooks are meant to be unknown: not a problem."""


def test_an_unknown_hook_is_reported_per_plugin_with_the_closest_name() -> None:
    host = PluginHost()
    host.register(Misspelt(), name="misspelt")
    info = host.infos["misspelt"]
    assert info.status == "warning" and info.hooks == []
    assert host.problems() == [
        "plugin 'misspelt' implements unknown hook 'harness_register_task' (did you mean 'harness_register_tasks'?)"
    ]
    assert "never" not in host.catalog.tasks
    host.unregister("misspelt")
    assert host.problems() == []


class FarOff:
    @hookimpl
    def setup_everything(self):
        pass


def test_an_unknown_hook_far_from_every_name_lists_the_hooks() -> None:
    host = PluginHost()
    host.register(FarOff(), name="far-off")
    (line,) = host.problems()
    assert line.startswith("plugin 'far-off' implements unknown hook 'setup_everything' (the hooks are ")
    assert "harness_register_commands" in line and "harness_register_encoders" in line


def _noop_arguments(parser) -> None:
    pass


class Commands:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def harness_register_commands(self, register: CommandRegister) -> None:
        for name in self.names:
            register(name, _noop_arguments, lambda args: 0, help=f"{name} help")


def test_commands_taken_by_the_core_or_an_earlier_plugin_are_refused() -> None:
    host = PluginHost()
    host.register(Commands("greet", "export"), name="first")
    host.register(Commands("export", "run", "other"), name="second")
    commands = host.commands(reserved={"run", "list"})
    assert {name: c.plugin for name, c in commands.items()} == {"greet": "first", "export": "first", "other": "second"}
    assert host.problems() == [
        "command 'run' from plugin 'second' ignored: 'run' is a core harness command",
        "command 'export' from plugin 'second' ignored: already registered by 'first'",
    ]
    assert host.infos["second"].status == "warning" and host.infos["first"].status == "ok"


class BadCommand:
    @hookimpl
    def harness_register_commands(self, register: CommandRegister) -> None:
        register("good", _noop_arguments, lambda args: 0)
        register("bad", _noop_arguments, "not a function")


def test_a_command_registered_wrong_fails_that_plugins_hook_only() -> None:
    host = PluginHost()
    host.register(BadCommand(), name="bad-command")
    host.register(Commands("fine"), name="fine")
    assert list(host.commands()) == ["fine"]  # a hook that raised registers nothing
    assert host.problems() == [
        "plugin 'bad-command' raised in harness_register_commands: TypeError: command 'bad': handler is not callable"
    ]
    assert host.infos["bad-command"].status == "hook failed"


def test_a_plugin_command_declares_its_arguments_only_when_used(capsys) -> None:
    from harness.cli import build_parser
    from harness.cli.plugin_commands import plugin_command_of, run_plugin_command

    declared = []

    def add_arguments(parser) -> None:
        declared.append(parser.prog)
        parser.add_argument("--times", type=int, default=1)

    class Lazy:
        @hookimpl
        def harness_register_commands(self, register: CommandRegister) -> None:
            register("lazy", add_arguments, lambda args: print("lazy " * args.times) or None, help="a lazy command")

    host = PluginHost()
    host.register(Lazy(), name="lazy-plugin")
    parser = build_parser(host)
    assert declared == []
    assert plugin_command_of(parser.parse_args(["list", "suites"])) is None
    assert declared == []
    args = parser.parse_args(["lazy", "--times", "2"])
    assert declared == ["harness lazy"]
    command = plugin_command_of(args)
    assert command is not None and command.plugin == "lazy-plugin"
    assert run_plugin_command(command, args) == 0  # a handler returning None ends with 0
    assert capsys.readouterr().out == "lazy lazy \n"


def test_a_plugin_command_whose_arguments_fail_is_one_line_naming_the_plugin() -> None:
    from harness.cli import build_parser

    def add_arguments(parser) -> None:
        parser.add_argument("--x")
        parser.add_argument("--x")  # argparse refuses a duplicate option

    class Broken:
        @hookimpl
        def harness_register_commands(self, register: CommandRegister) -> None:
            register("broken", add_arguments, lambda args: 0)

    host = PluginHost()
    host.register(Broken(), name="broken-args")
    parser = build_parser(host)
    with pytest.raises(
        HarnessError,
        match=r"^plugin 'broken-args': command 'harness broken' could not declare its arguments: ArgumentError: .*--x",
    ):
        parser.parse_args(["broken"])


def test_register_types_are_public_and_the_package_is_typed() -> None:
    import importlib.resources
    import tomllib
    import typing

    import harness
    from harness import hookspecs

    for name in ("EncoderRegister", "TaskRegister", "SuiteRegister", "DatasetRegister", "CommandRegister"):
        assert name in harness.__all__ and isinstance(getattr(harness, name), type)
    namespace = vars(harness)
    for hook in ("encoders", "tasks", "suites", "datasets", "commands"):
        spec = getattr(hookspecs, f"harness_register_{hook}")
        hints = typing.get_type_hints(spec, localns=namespace)
        assert hints["register"].__name__ == f"{hook.removesuffix('s').capitalize()}Register", hook
    assert importlib.resources.files("harness").joinpath("py.typed").is_file()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["harness"]  # so that the wheel has it
