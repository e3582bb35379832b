"""`python -m jobs <command> ...`: the same launcher as the `affective` command (jobs/cli.py)."""
import sys

from jobs.cli import main

sys.exit(main())
