"""Test-set evaluation: metrics with bootstrap intervals, paired model comparison, curve data.

Threshold rule: `evaluate` never picks its threshold on the rows it scores (that would flatter
F1/precision/recall on test). Choose it with `choose_threshold` on out-of-fold or train
predictions and pass it in; without one, the neutral 0.5 is used.
Bootstrap: customers are resampled with replacement, as per-customer counts in blocks of
resamples, so every metric is computed vectorised over a block; resamples with one class are
skipped. Every output is plain Python (float/int/list/None), never NaN, so it is JSON-safe.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
BLOCK_CELLS = 4_000_000        # resamples x customers held at once: bounds memory for large test sets
MAX_POINTS = 200               # per curve, enough for a smooth plot and a small plots file
N_BINS = 10                    # reliability-diagram bins, equal-count (quantile) bins
TOP_SHARE = 0.10               # "top decile" for lift and capture
EPS = 1e-15                    # log-loss clipping, as scikit-learn does


def _check(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y_true).ravel(), np.asarray(proba, dtype=float).ravel()
    if len(y) != len(p) or len(y) == 0:
        raise ValueError(f"y_true and proba must be non-empty and equally long, got {len(y)} and {len(p)}.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold only 0/1, got values {np.unique(y)[:5].tolist()}.")
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError("proba must be finite probabilities in [0, 1].")
    return y.astype(float), p


def _clean(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _floats(a: np.ndarray) -> list[float | None]:
    return [_clean(v) for v in np.asarray(a, dtype=float)]


def _grouped(w: np.ndarray, y: np.ndarray, p: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positive/negative counts per distinct score (ties form one group), in score order."""
    order = np.argsort(-p if descending else p, kind="stable")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ws, ys = w[:, order], y[order]
    return np.add.reduceat(ws * ys, starts, axis=1), np.add.reduceat(ws * (1 - ys), starts, axis=1)


def _auc(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC-AUC per row of weights w (Mann-Whitney: P(score_pos > score_neg), ties count one half)."""
    pos, neg = _grouped(w, y, p, descending=False)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(1) / (pos.sum(1) * neg.sum(1))


def _ap(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Average precision per row, as scikit-learn defines it: sum over thresholds of dRecall * precision."""
    pos, neg = _grouped(w, y, p, descending=True)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * precision).sum(1) / pos.sum(1)


def _log_loss(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1 - EPS)
    return w @ -(y * np.log(q) + (1 - y) * np.log(1 - q)) / w.sum(1)


def _brier(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return w @ (p - y) ** 2 / w.sum(1)


METRICS = {"roc_auc": _auc, "average_precision": _ap, "log_loss": _log_loss, "brier": _brier}


def _point(metric: str, y: np.ndarray, p: np.ndarray) -> float:
    return float(METRICS[metric](np.ones((1, len(y))), y, p)[0])


def point(metric: str, y: Any, p: Any) -> float:
    """One metric on one set of scores, numpy only: about 10x faster than scikit-learn's scorers, which
    matters where they are called hundreds of times (greedy ensemble selection)."""
    return _point(metric, np.asarray(y, dtype=float), np.asarray(p, dtype=float))


def _resample_weights(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap resamples as (block, n) counts: how often each customer was drawn."""
    rng = np.random.default_rng(seed)
    block = max(1, min(n_boot, BLOCK_CELLS // n))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)


def _bootstrap(y: np.ndarray, probas: Sequence[np.ndarray], metrics: Sequence[str],
               n_boot: int, seed: int) -> np.ndarray:
    """(len(probas), len(metrics), n_valid) replicates; all probas see the same resampled customers."""
    reps = []
    for w in _resample_weights(len(y), n_boot, seed):
        npos = w @ y
        w = w[(npos > 0) & (npos < w.sum(1))]  # a one-class resample has no AUC/AP: skip it
        reps.append([[METRICS[m](w, y, p) for m in metrics] for p in probas])
    if not reps:
        return np.empty((len(probas), len(metrics), 0))
    out = np.concatenate([np.asarray(r, dtype=float) for r in reps], axis=2)  # r: (probas, metrics, block)
    if out.shape[2] < n_boot:
        log.warning("bootstrap: %d of %d resamples had one class and were skipped", n_boot - out.shape[2], n_boot)
    return out


def _ci(values: np.ndarray, level: float = 0.95) -> list[float | None]:
    """Percentile interval; None when too few valid resamples to say anything."""
    if len(values) < 20:
        return [None, None]
    return _floats(np.percentile(values, [50 * (1 - level), 50 * (1 + level)]))


def at_threshold(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """F1/precision/recall and the confusion matrix for 'positive when proba >= threshold'."""
    pred = p >= threshold
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    return {"threshold": float(threshold),
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "precision": tp / (tp + fp) if tp + fp else None,  # undefined with no predicted positives
            "recall": tp / (tp + fn) if tp + fn else None,
            "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}}


def top_share(y: np.ndarray, p: np.ndarray, share: float = TOP_SHARE) -> dict[str, float | None]:
    """Lift and capture in the top `share` by score; ties at the cut count pro rata (order-free)."""
    n, positives = len(y), y.sum()
    k = max(1, round(share * n))
    cut = np.sort(p)[::-1][k - 1]
    above, at = p > cut, p == cut
    pos_top = y[above].sum() + y[at].sum() * (k - above.sum()) / at.sum()
    if positives == 0:
        return {"lift_top_decile": None, "capture_top_decile": None}
    return {"lift_top_decile": float((pos_top / k) / (positives / n)),
            "capture_top_decile": float(pos_top / positives)}


def evaluate(y_true: Any, proba: Any, threshold: float | None = None, n_boot: int = 1000,
             seed: int = 0) -> dict[str, Any]:
    """All test metrics; `threshold` must come from elsewhere (see `choose_threshold`), default 0.5."""
    y, p = _check(y_true, proba)
    if threshold is None:
        threshold = DEFAULT_THRESHOLD
        log.info("evaluate: no threshold given, using %.2f", threshold)
    ranked = ("roc_auc", "average_precision")
    reps = _bootstrap(y, [p], ranked, n_boot, seed)[0]
    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum())}
    for metric, values in zip(ranked, reps):
        out[metric], out[f"{metric}_ci"] = _clean(_point(metric, y, p)), _ci(values)
    out["log_loss"], out["brier"] = _point("log_loss", y, p), _point("brier", y, p)
    return {**out, **at_threshold(y, p, threshold), **top_share(y, p)}


def choose_threshold(y_true: Any, proba: Any, rule: str = "max_f1", cost_ratio: float = 5.0) -> float:
    """Pick a threshold on out-of-fold/train predictions: 'max_f1', 'youden' (max TPR - FPR), or
    'cost' (min cost_ratio * missed positives + false alarms)."""
    y, p = _check(y_true, proba)
    if y.min() == y.max():
        raise ValueError("choose_threshold needs both classes in y_true.")
    if rule == "max_f1":
        precision, recall, thresholds = precision_recall_curve(y, p)
        denom = precision[:-1] + recall[:-1]
        f1 = np.divide(2 * precision[:-1] * recall[:-1], denom, out=np.zeros_like(denom), where=denom > 0)
        return float(thresholds[int(np.argmax(f1))])
    if rule == "youden":
        fpr, tpr, thresholds = roc_curve(y, p)
        return float(min(thresholds[int(np.argmax(tpr - fpr))], 1.0))  # the first threshold is +inf
    if rule == "cost":
        fpr, tpr, thresholds = roc_curve(y, p)
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        cost = cost_ratio * (1 - tpr) * n_pos + fpr * n_neg
        return float(min(thresholds[int(np.argmin(cost))], 1.0))
    raise ValueError(f"rule must be 'max_f1', 'youden' or 'cost', got {rule!r}.")


def paired_bootstrap(y: Any, proba_a: Any, proba_b: Any, metric: str = "roc_auc",
                     n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """metric(a) - metric(b) with a 95 % interval and a two-sided bootstrap p-value (H0: no difference).

    Both models are scored on the same resampled customers, so the customer-to-customer noise they
    share cancels out. p_value: twice the share of resampled differences on the far side of 0.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}.")
    y, pa = _check(y, proba_a)
    pb = _check(y, proba_b)[1]
    reps = _bootstrap(y, [pa, pb], [metric], n_boot, seed)
    d = reps[0, 0] - reps[1, 0]
    a, b = _point(metric, y, pa), _point(metric, y, pb)
    # (k + 1) / (m + 1): a p-value is never reported as exactly 0 from finitely many resamples.
    far = min((d <= 0).sum(), (d >= 0).sum())
    p_value = min(1.0, 2 * (far + 1) / (len(d) + 1)) if len(d) else None
    return {"metric": metric, "a": _clean(a), "b": _clean(b), "diff": _clean(a - b), "ci": _ci(d),
            "p_value": _clean(p_value)}


def _thin(*arrays: np.ndarray, max_points: int = MAX_POINTS) -> list[list[float | None]]:
    """Keep at most max_points evenly spaced points (always the first and last) of aligned arrays."""
    m = len(arrays[0])
    idx = np.unique(np.linspace(0, m - 1, min(m, max_points)).round().astype(int))
    return [_floats(a[idx]) for a in arrays]


def curves(y: Any, proba: Any) -> dict[str, dict[str, list]]:
    """ROC, PR, reliability (10 quantile bins) and cumulative gains, as plain column lists."""
    y, p = _check(y, proba)
    if y.min() == y.max():
        raise ValueError("curves need both classes in y.")
    fpr, tpr, thr = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    bins = np.array_split(np.argsort(p, kind="stable"), min(N_BINS, len(p)))
    order = np.argsort(-p, kind="stable")
    customers = np.r_[0.0, np.arange(1, len(y) + 1) / len(y)]
    captured = np.r_[0.0, np.cumsum(y[order]) / y.sum()]
    roc, pr, gains = _thin(fpr, tpr, thr), _thin(recall[::-1], precision[::-1]), _thin(customers, captured)
    return {"roc": dict(zip(("fpr", "tpr", "threshold"), roc)),   # threshold[0] is +inf -> None
            "pr": dict(zip(("recall", "precision"), pr)),
            "calibration": {"mean_predicted": [float(p[b].mean()) for b in bins],
                            "observed": [float(y[b].mean()) for b in bins],
                            "count": [len(b) for b in bins]},
            "gains": dict(zip(("share_customers", "share_positives"), gains))}
