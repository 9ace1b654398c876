"""What a run shows and leaves: event lines, the summary, the terminal view, JSON, metrics,
status. No network or file I/O of its own beyond writing those outputs."""
