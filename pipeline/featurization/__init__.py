"""From cleaned customers (+ events) to model inputs: static features, the fitted transform, the features folder."""
