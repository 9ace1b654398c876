"""`python -m crawler` is the same as the `prow-crawler` console script."""

from crawler.cli.app import main

main()
