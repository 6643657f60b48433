"""Fitted cleaning of the customers table: imputation and IQR outlier fences, fitted on train rows only."""
