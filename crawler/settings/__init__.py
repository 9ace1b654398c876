"""What the user configures: jobs.yaml, command-line flags, their precedence, built-in defaults."""
