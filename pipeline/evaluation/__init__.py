"""Test-set evaluation: the metric definitions, bootstrap intervals, curves, the leaderboard and its files."""
