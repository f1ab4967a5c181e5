"""``python -m govbus`` runs the CLI."""

from govbus.cli.main import main

main()
