"""`python -m lab.cli ...`: the `lab` command."""

from lab.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
