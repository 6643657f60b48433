"""Model families: one module per family, each with `search_space(trial, space)` and `build(params, seed)`.

The search-space ranges live in configs/<family>.yaml (users edit them there).
"""
from pipeline.models import forest, logreg, sequence, xgb

FAMILIES = {"logreg": logreg, "forest": forest, "xgb": xgb, "lstm": sequence}
