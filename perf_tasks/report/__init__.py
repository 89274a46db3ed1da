"""Reports: a self-contained HTML page per run."""
