"""The command line (typer): run, crawl, validate, status, demo."""

from crawler.cli.app import main

__all__ = ["main"]
