"""`python -m crawler.sandbox`: serve a sandbox until Ctrl-C (see server.main)."""

import sys

from .server import main

sys.exit(main())
