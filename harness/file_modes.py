"""Ordinary permissions for what the harness writes through temporary files.

``tempfile`` makes its files 0600 and its folders 0700, which is right while they
are being written and wrong once they are renamed into place: a results folder,
a checkpoint or an installed dataset shared by a team must get the mode a plain
``open()`` or ``mkdir`` would give (0644 and 0755 under umask 022).  Every writer
that renames a temporary into place asks here, so the user's umask decides.
"""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux shows it in ``/proc/self/status``; elsewhere it can only be read by setting it and setting it back,
    which a thread creating a file in between would see (the CLI writes its files from one thread).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode a plain ``mkdir`` gives a new folder."""
    return 0o777 & ~current_umask()


def relax_modes(folder: Path) -> None:
    """Give a finished build folder (made with ``mkdtemp``) and everything in it ordinary permissions."""
    files, folders = file_mode(), folder_mode()
    for path in folder.rglob("*"):
        os.chmod(path, folders if path.is_dir() else files)
    os.chmod(folder, folders)
