"""Sequence representations that join the feature matrix: self-supervised CoLES embeddings and event
transition shares, fitted on train customers only."""
