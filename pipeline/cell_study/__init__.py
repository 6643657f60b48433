"""The cells stage's study: each sequence cell trained alike on folds of the train split, clipped and unclipped."""
