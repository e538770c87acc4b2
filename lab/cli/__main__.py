"""`python -m lab.cli ...`: the `lab` command."""

from lab.cli.main import main

raise SystemExit(main())
