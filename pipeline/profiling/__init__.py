"""Exploratory analysis of the prepared data: reports/eda.json (the numbers) and reports/eda.html (the page)."""
