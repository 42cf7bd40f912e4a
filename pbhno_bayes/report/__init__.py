"""Reports: shared figures and the end-to-end ``pbhno demo``."""
