"""The EDA page's header cards: the key numbers at a glance."""
from __future__ import annotations

from typing import Any

from pipeline.presentation.formatting import fmt_int, fmt_num, fmt_pct


def cards(summary: dict[str, Any]) -> list[dict[str, str]]:
    """Header cards: label, big value, one line of detail."""
    target, missing, outliers = summary["target"], summary["missing"]["cells"], summary["outliers"]
    data, events = summary["dataset"], summary["events"]
    columns = data.get("columns") or {}
    label = f"{columns.get('target', 'target')} = {columns.get('positive_label', 1)}"
    per_customer = events["per_customer"]["train"] if events else None
    return [
        {"label": "Customers", "value": fmt_int(target["all"]["n"]),
         "detail": f"train {fmt_int(target['train']['n'])} · test {fmt_int(target['test']['n'])}"},
        {"label": "Positive rate", "value": fmt_pct(target["train"]["positive_rate"]),
         "detail": f"{label} in train · test {fmt_pct(target['test']['positive_rate'])}"},
        {"label": "Features", "value": fmt_int(data["n_features"]),
         "detail": f"{data['n_numeric']} numeric · {data['n_categorical']} categorical"},
        {"label": "Events", "value": fmt_int(events["n_events"]) if events else "none",
         "detail": (f"median {fmt_num(per_customer.get('q50'))} per train customer" if events else "no event log")},
        {"label": "Missing cells", "value": fmt_pct(missing["all"]["share"]),
         "detail": f"{fmt_int(missing['all']['count'])} feature cells, both splits"},
        {"label": "Outlier rows", "value": fmt_pct(outliers["rows"]["train"]["share"]),
         "detail": f"{fmt_int(outliers['rows']['train']['count'])} train rows beyond IQR fences (k = {fmt_num(outliers['k'])})"},
    ]
