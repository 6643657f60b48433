"""Greedy ensemble selection and probability calibration on out-of-fold predictions."""
