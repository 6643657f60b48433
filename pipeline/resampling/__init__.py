"""Minority over-sampling (SMOTE family): fold-safe samplers for tuning and the resampled train table."""
