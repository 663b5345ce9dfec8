"""Datasets by name: the registry (what and where), downloads, safe unpacking and the installed copies.

``harness data list | fetch | verify | path | rm`` is the user's view (:mod:`.cli`); tasks reach installed
datasets, and with ``--download`` fetch missing ones, through :class:`harness.datafiles.DataLocator`.
"""
