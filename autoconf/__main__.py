"""``python -m autoconf`` is the ``mail-autoconf`` command."""

from autoconf.cli import DISTRIBUTION
from autoconf.cli import main

main(prog_name=DISTRIBUTION)
