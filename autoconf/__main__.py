"""``python -m autoconf`` is the ``autoconf`` command."""

from autoconf.cli import main

main()
