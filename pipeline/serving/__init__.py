"""Scoring new customers with the saved transform and a tuned model: one scorer for the CLI and the app, chunked files."""
