"""Display helpers shared by the EDA page, the report and the app: number formats and deterministic SVG."""
