"""Each job's state on disk: the tracker, the failures and checkpoint files, the lock, and the
ledger that keeps one run's view of a job. Never reads Prow or writes Logilica."""
