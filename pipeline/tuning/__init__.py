"""Optuna studies per family on CV folds of train: objective, cross-validation, storages and workers, the final refit."""
