"""``python -m chargeline``: the same as the ``chargeline`` command."""

from chargeline.cli import main

main()
