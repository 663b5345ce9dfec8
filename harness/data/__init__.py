"""Data: locating and verifying task files, the dataset registry, downloads, unpacking, the installed store."""
