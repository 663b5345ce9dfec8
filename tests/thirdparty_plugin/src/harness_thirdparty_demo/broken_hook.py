"""A plugin whose hook raises: the harness must report it in one line and carry on."""

from harness import hookimpl


@hookimpl
def harness_register_encoders(register):
    register("half-registered", lambda settings: None)
    raise RuntimeError("demo plugin failure inside the hook")
