"""``python -m townsquare`` runs the command line."""

from townsquare.cli import main

raise SystemExit(main())
