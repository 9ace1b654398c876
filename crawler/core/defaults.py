"""Built-in defaults, the last step of the precedence rule (flag > job > `defaults:` > these).

A module of its own so the command line's help can name them without importing the config
machinery (YAML, URL parsing): `--help` stays instant.
"""

DEFAULT_API_URL = "https://logilica.io/api/import/v1"
# The public GCS JSON API; STORAGE_EMULATOR_HOST points the crawler at an emulator instead.
PUBLIC_API_ROOT = "https://storage.googleapis.com"
DEFAULT_ORIGIN = "OpenShift_CI"
# New builds per job per run when neither the command line nor the file says (0: no limit).
DEFAULT_LIMIT = 50
DISCOVERY_MODES = ("auto", "deck", "gcs")
# What a build's stages are: ci-operator's steps (from its step graph), or the build as one.
STAGE_MODES = ("steps", "build")
# Runs in which a build may fail for good before it is given up (see crawler.net.retry).
GIVE_UP_AFTER_RUNS = 3
