"""A plugin whose import fails: the harness must report it in one line and carry on."""

import a_module_that_does_not_exist  # noqa: F401
