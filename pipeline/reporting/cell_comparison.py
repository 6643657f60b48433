"""The report's "Recurrent cells compared" section from reports/cells.json: the table and the plain sentences.

Every sentence is computed from the numbers in cells.json (which cell leads, by how much, whether a norm
fell or rose), so it stays true whatever a run produced; the general statements (what gating and
clipping do) hold for any data. Figures are in cell_figures.py.
"""
from __future__ import annotations

import logging
from typing import Any

from pipeline.presentation.formatting import fmt_int, fmt_num

log = logging.getLogger(__name__)

RUNS = ("clipped", "unclipped")


def label(cell: str, entries: dict[str, Any]) -> str:
    """The cell's name as cells.json spells it for readers ("plain RNN"), else its id."""
    return (entries.get(cell) or {}).get("label") or cell


def cells_section(cells: dict[str, Any] | None) -> dict[str, Any]:
    """Section values for the template: available / skipped, table rows and the sentences under each part."""
    if not cells:
        return {"available": False, "skipped": None}
    if cells.get("skipped"):
        return {"available": False, "skipped": str(cells["skipped"])}
    entries = cells.get("cells") or {}
    rows = [table_row(cell, entry) for cell, entry in entries.items()]
    config = cells.get("config") or {}
    return {"available": True, "skipped": None, "rows": rows, "setup": setup_sentence(cells, config),
            "scores": score_sentences(rows), "curves": curve_sentences(entries, config.get("max_epochs")),
            "gradients": gradient_sentences(entries, config.get("grad_clip"))}


def table_row(cell: str, entry: dict[str, Any]) -> dict[str, Any]:
    """One cell's row: CV mean and sd per run, seconds, and how many fits diverged or hit the time cap."""
    runs = {run: entry.get(run) or {} for run in RUNS}
    return {"cell": cell, "label": entry.get("label") or cell, "gated": bool(entry.get("gated")), **{f"{r}_{s}": runs[r].get(s) for r in RUNS for s in ("mean", "sd")},
            "seconds": entry.get("seconds"), "diverged": sum(runs[r].get("diverged") or 0 for r in RUNS),
            "capped": sum(runs[r].get("capped") or 0 for r in RUNS)}


def setup_sentence(cells: dict[str, Any], config: dict[str, Any]) -> str:
    return (f"Every cell was trained with the same configuration (hidden size {config.get('hidden_size')}, the last "
            f"{config.get('max_len')} events, learning rate {fmt_num(config.get('lr'), 3)}, batch "
            f"{config.get('batch_size')}, {config.get('max_epochs')} epochs) on the same {cells.get('folds')} "
            f"stratified folds of {fmt_int(cells.get('n_customers'))} training customers "
            f"({fmt_int(cells.get('positives'))} positive), once clipping each batch's gradient norm at "
            f"{fmt_num(config.get('grad_clip'), 3)} and once without. The score is ROC-AUC on each held-out fold "
            "(mean ± sd over folds); the test customers were not used.")


def score_sentences(rows: list[dict[str, Any]]) -> list[str]:
    """Who leads, how the plain RNN compares with the gated cells, and what clipping changed."""
    scored = [r for r in rows if r["clipped_mean"] is not None]
    if not scored:
        return ["No cell produced a score."]
    best = max(scored, key=lambda r: r["clipped_mean"])
    out = [f"With clipping the {best['label']} scores highest ({best['clipped_mean']:.3f})."]
    rnn = next((r for r in scored if r["cell"] == "rnn"), None)
    gated = [r for r in scored if r["gated"]]
    if rnn and gated:
        top = max(gated, key=lambda r: r["clipped_mean"])
        gap, noise = top["clipped_mean"] - rnn["clipped_mean"], max(top["clipped_sd"] or 0, rnn["clipped_sd"] or 0)
        if gap > 0:
            sure = " (more than a fold sd)" if gap > noise else ", within about one fold sd, so not clear-cut"
            out.append(f"The plain RNN is {gap:.3f} below the {top['label']}{sure}, "
                       "as expected of a cell without gates, which learns less from events far back in the sequence.")
        else:
            out.append(f"The plain RNN is not behind the gated cells here ({-gap:.3f} above the {top['label']}): "
                       "on these sequences long-range memory is not what limits the score.")
    pairs = [(r, r["clipped_mean"] - r["unclipped_mean"]) for r in scored if r["unclipped_mean"] is not None]
    if pairs:
        row, diff = max(pairs, key=lambda p: abs(p[1]))
        out.append(f"Clipping changed a cell's mean score by at most {abs(diff):.3f} ({row['label']}: "
                   f"{'higher' if diff > 0 else 'lower' if diff < 0 else 'the same'} with clipping).")
    return out


def peak(epochs: list[dict[str, Any]]) -> tuple[int, float, float] | None:
    """(epoch of the best validation AUC, that AUC, the last epoch's AUC) of one run's curve."""
    points = [(e["epoch"], e["val_auc"]) for e in epochs if e.get("val_auc") is not None]
    if not points:
        return None
    epoch, best = max(points, key=lambda p: p[1])
    return epoch, best, points[-1][1]


def curve_sentences(entries: dict[str, Any], max_epochs: int | None) -> list[str]:
    """Which cells' validation curves peak before the end (overfitting) and which still climb."""
    peaks = {c: peak((e.get("clipped") or {}).get("epochs") or []) for c, e in entries.items()}
    falling = [label(c, entries) for c, p in peaks.items() if p and p[2] < p[1]]
    climbing = [label(c, entries) for c, p in peaks.items() if p and p[2] >= p[1]]
    out = ["Validation ROC-AUC after each epoch, on the early-stopping hold-out inside each fold's training "
           "rows (mean over folds); solid lines are the clipped runs, dotted the unclipped ones."]
    if falling:
        out.append(f"Curves that peak before the last epoch and then fall (here: {', '.join(falling)}) start to "
                   "overfit; each fit keeps the weights of its best epoch.")
    if climbing:
        out.append(f"Curves still at their best in the last of {max_epochs} epochs (here: {', '.join(climbing)}) "
                   "might gain from more epochs.")
    return out


def gradient_sentences(entries: dict[str, Any], clip: float | None) -> list[str]:
    """The plain RNN's norm over the epochs (vanishing?) and the largest unclipped batch norm (exploding?)."""
    out = []
    rnn = [e for e in ((entries.get("rnn") or {}).get("unclipped") or {}).get("epochs") or []
           if e.get("grad_norm_mean") is not None]
    if len(rnn) >= 2:
        first, last = rnn[0]["grad_norm_mean"], rnn[-1]["grad_norm_mean"]
        change = (f"{'fell' if last < first else 'rose'} from {fmt_num(first, 3)} in the first epoch to "
                  f"{fmt_num(last, 3)} in the last" if last != first else f"stayed at {fmt_num(first, 3)}")
        out.append(f"The plain RNN's mean gradient norm {change} (unclipped). A vanishing gradient shows as a norm "
                   "shrinking towards zero while the score stalls: the RNN multiplies it by the same recurrent weights "
                   "at every step, and the LSTM's and GRU's gates let it pass through many steps nearly unchanged.")
    spikes = [(e["grad_norm_max"], e.get("grad_norm_mean"), c, e["epoch"]) for c, entry in entries.items()
              for e in ((entry.get("unclipped") or {}).get("epochs") or []) if e.get("grad_norm_max") is not None]
    if spikes:
        top, mean, cell, epoch = max(spikes, key=lambda s: s[0])
        ratio = f", {fmt_num(top / clip, 2)}× the clip value {fmt_num(clip, 3)}" if clip else ""
        over = f"; {fmt_num(top / mean, 2)}× that epoch's mean" if mean else ""
        out.append(f"Without clipping the largest batch gradient norm was {fmt_num(top, 3)} ({label(cell, entries)}, epoch "
                   f"{epoch}{ratio}{over}). Exploding gradients show as spikes of the maximum far above the mean; "
                   "clipping rescales any batch's gradient down to the clip value before the step, so a spike cannot "
                   "throw the weights far (the norms drawn are measured before clipping).")
    clipped = [e for entry in entries.values() for e in ((entry.get("clipped") or {}).get("epochs") or [])
               if e.get("grad_norm_max") is not None]
    if clip and clipped:
        active = sum(e["grad_norm_max"] > clip for e in clipped)
        out.append(f"In the clipped runs, {active} of the {len(clipped)} epochs (all cells) had at least one batch "
                   "whose norm exceeded the clip value, so clipping rescaled those steps.")
    return out or ["No gradient norms were recorded."]
