"""Shared test helpers: run the real CLI as a subprocess, as a user or cron would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_command(args: list[str]) -> list[str]:
    """The command line of `python -m crawler ARGS` with this interpreter."""
    return [sys.executable, "-m", "crawler", *args]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without Logilica or storage settings (never a token), unbuffered,
    plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOGILICA_", "STORAGE_"))}
    return {**base, "PYTHONUNBUFFERED": "1", **(env or {})}


def run_cli(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> CliResult:
    """`python -m crawler ARGS` in a clean environment (plus `env`); never inherits a token."""
    proc = subprocess.run(
        cli_command(args),
        env=cli_env(env),
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli
