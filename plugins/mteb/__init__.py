"""The MTEB bridge, both directions, as one built-in plugin (needs the ``mteb`` extra: ``cpt-harness[mteb]``).

* :mod:`.model`: a harness encoder as an MTEB 2.x model, :func:`as_mteb_model` (public API:
  ``from harness.plugins.mteb import as_mteb_model``), and the adapter both directions share.
* :mod:`.tasks`: the ``mteb:<Task>`` task family, any MTEB task run by MTEB's loader and evaluator and recorded as a
  harness result (the plugin module the host registers).

mteb itself is imported inside functions only, so importing this package works without the extra; the first call
that needs mteb says in one line how to install it.
"""

from __future__ import annotations

from harness.plugins.mteb.model import EncodeFnModel, as_mteb_model, require_mteb

__all__ = ["EncodeFnModel", "as_mteb_model", "require_mteb"]
