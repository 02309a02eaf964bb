"""Generate-and-evaluate jobs: generate through the router, judge with the panel, regenerate red results."""
