"""The ground: plain types and pure rules every layer uses (builds, refs, job URLs, job settings,
counts, errors). No I/O; imports nothing of the crawler outside this package."""
