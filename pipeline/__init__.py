"""Customer-prediction AutoML pipeline: one module per DVC stage (see dvc.yaml)."""
