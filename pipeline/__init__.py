"""Customer-prediction AutoML pipeline: a thin entry per DVC stage on top (python -m pipeline.<stage>), a package per concept."""
