"""The prepare stage when the target is built from the event log (label.from_events).

Customers are everyone with qualifying history before the cutoff (pipeline/labels/outcome.py), among the
customers table's rows when there is one; the others are left out, counted and warned. Each split is
labelled at its own cutoff (pipeline/labels). Only events strictly before the test
cutoff are kept for the later stages, and the feature stages measure each split at its own cutoff
(meta.json `as_of_train`, `as_of`), so the label windows never reach a feature (leakage rule 5).
"""
from __future__ import annotations

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.params import LabelParams, Params
from pipeline.core.schema import ID, TARGET, TEST, TIMESTAMP, TRAIN
from pipeline.data.prepared import PreparedData
from pipeline.data.sources import Sources
from pipeline.data.split import train_test_split_ids
from pipeline.data.validate_customers import (
    CleanCustomers,
    Report,
    check_listed,
    clean_ids,
    to_days,
    validate_customers,
)
from pipeline.data.validate_events import CleanEvents, validate_events
from pipeline.labels import outcome, window


def _static(src: Sources, report: Report) -> tuple[CleanCustomers, pd.Series | None]:
    """The customers table's static features (no target: the log makes it), or none without a table."""
    if src.customers is None:
        empty = pd.DataFrame({ID: pd.Series(dtype=object)})
        return CleanCustomers(empty, [], []), None
    clean = validate_customers(src.customers, src.data, src.labels["customers"], require_target=False, report=report)
    return clean, clean.frame[ID]


def _events(src: Sources, table_ids: pd.Series | None, report: Report) -> CleanEvents:
    p, file_label = src.data, src.labels["events"]
    ids = table_ids
    if ids is None:   # no table: every id of the log is a customer
        ids = pd.Series(pd.unique(clean_ids(src.events[p.id_column], file_label, p.id_column)), dtype=object) \
            if p.id_column in src.events.columns else pd.Series(dtype=object)
    return validate_events(src.events, p, file_label, ids, customers_label=src.labels["customers"], report=report)


def _customers(static: CleanCustomers, labels: outcome.Labels, cutoff: pd.Timestamp, file_label: str) -> pd.DataFrame:
    """ID, TARGET, then the static features (dates as days before this cutoff), in the labels' customer order."""
    if not static.numeric and not static.categorical:
        return labels.frame.reset_index(drop=True)
    frame = to_days(static, cutoff, file_label).frame
    return labels.frame.merge(frame, on=ID, how="left", validate="one_to_one")


def prepare_from_events(params: Params, src: Sources) -> tuple[PreparedData, dict]:
    """(prepared data, the meta.json additions); raises InputError on bad input or an unusable label."""
    lp, split = params.label, params.split
    window.check_params(lp, split.method)
    if params.data.cutoff is not None:
        raise InputError("params: with label.from_events the cutoff is label.cutoff; set data.cutoff to null.")
    if split.column is not None:
        raise InputError("params: split.column cannot be combined with label.from_events; use split.method "
                         "random or time.")
    if src.events is None:
        raise InputError("params: label.from_events builds the target from the event log, but there is none "
                         "(data.events is null).")
    report = src.report   # what reading the files warned, then the validators
    static, table_ids = _static(src, report)
    if table_ids is not None and (clash := window.target_name(lp)) in src.customers.columns:
        raise InputError(f"{src.labels['customers']}: column '{clash}' has the name of the label built from the log; "
                         "rename it or list it in data.ignore.")
    check_listed(src.data, "the customers or events file",
                 [*([] if src.customers is None else src.customers.columns), *src.events.columns], keys=("ignore",))
    events = _events(src, table_ids, report)
    frame, file_label = events.frame, src.labels["events"]
    window.check_event_types(lp, frame, events.has_event_type, file_label)
    windows = window.resolve(lp, frame[TIMESTAMP], split.method, file_label, default=src.cutoff)
    labelled = {}
    for name in (TRAIN, TEST) if windows.out_of_time else (TRAIN,):
        labelled[name] = outcome.label_at(frame, windows.cutoff(name), windows.horizon, lp, table_ids)
        outcome.check_classes(labelled[name], windows.cutoff(name), lp, file_label, name)
    if windows.out_of_time:
        train, test = (_customers(static, labelled[s], windows.cutoff(s), src.labels["customers"]) for s in (TRAIN, TEST))
    else:
        customers = _customers(static, labelled[TRAIN], windows.train, src.labels["customers"])
        assignment = train_test_split_ids(customers, split, params.seed, file_label).to_numpy()
        train, test = (customers[assignment == s].reset_index(drop=True) for s in (TRAIN, TEST))
    late = frame[TIMESTAMP] >= windows.test
    report.dropped["events_after_cutoff"] = int(late.sum())
    kept = CleanEvents(frame[~late].reset_index(drop=True), events.numeric, events.has_event_type, events.time_format)
    prepared = PreparedData(train, test, kept.frame, src.truth, {})
    return prepared, _meta(params, windows, train, test, labelled, static, kept, report)


def _left_out(lp: LabelParams, windows: window.Windows, labelled: dict[str, outcome.Labels],
              report: Report) -> dict[str, dict[str, int]]:
    """Warn one line per cutoff about the customers not scored; their counts for meta.json. A random split
    labels at one cutoff, before the split: its counts are under "all"."""
    counts: dict[str, dict[str, int]] = {"no_history": {}, "short_history": {}}
    for split, labels in labelled.items():
        key, where = (split, f"the {split} cutoff") if windows.out_of_time else ("all", "the cutoff")
        where += f" {windows.cutoff(split)}"
        counts["no_history"][key], counts["short_history"][key] = labels.no_history, labels.short_history
        if labels.no_history:
            report.warn(f"label: {labels.no_history:,} customers without qualifying history before {where} are not "
                        f"scored: {outcome.history_reason(lp)}.")
        if labels.short_history:
            report.warn(f"label: {labels.short_history:,} customers with less than {lp.min_history_days:g} days of "
                        f"history before {where} are not scored (label.min_history_days).")
    return counts


def _meta(params: Params, windows: window.Windows, train: pd.DataFrame, test: pd.DataFrame,
          labelled: dict[str, outcome.Labels], static: CleanCustomers, events: CleanEvents, report: Report) -> dict:
    """What pipeline.data.preparation.build_meta needs plus the label's own keys."""
    lp = params.label
    left_out = _left_out(lp, windows, labelled, report)
    return {"static": static, "events": events, "report": report, "target": window.target_name(lp),
            "cutoff": windows.test,
            "label": {"kind": lp.kind, "event_types": lp.event_types, "horizon_days": lp.horizon_days,
                      "min_history_days": lp.min_history_days, "cutoff": windows.test.isoformat(),
                      "left_out_no_history": left_out["no_history"],
                      "left_out_short_history": left_out["short_history"],
                      "train_cutoff": windows.train.isoformat(), "split_method": params.split.method,
                      "positive_rate": {TRAIN: float(train[TARGET].mean()), TEST: float(test[TARGET].mean())},
                      "window": {TRAIN: [windows.train.isoformat(), (windows.train + windows.horizon).isoformat()],
                                 TEST: [windows.test.isoformat(), (windows.test + windows.horizon).isoformat()]}},
            "as_of_train": windows.train.isoformat()}

