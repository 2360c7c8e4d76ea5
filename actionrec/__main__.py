"""`python -m actionrec`: the same command line as the `actionrec` script."""

from .cli import main

main()
