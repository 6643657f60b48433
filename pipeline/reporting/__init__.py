"""The comparison report, reports/index.html, rendered from the earlier stages' files alone."""
