"""Drift monitoring: how far scored customers are from the training distribution (reference, PSI, summary)."""
