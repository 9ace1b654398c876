"""`python -m crawler.sandbox`: serve a sandbox until Ctrl-C (see cli.main)."""

import sys

from .cli import main

sys.exit(main())
