"""Allow ``python -m netsentry``."""

from netsentry.cli import main

main()
