"""report stage: the page shows metrics.json exactly, renders with optional inputs missing, is one
offline file, escapes hostile names, and is written atomically. (Browser rendering: test_report_browser.)"""
import json
import os
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from pipeline import report
from pipeline.evaluation import comparison as evaluate_comparison
from pipeline.evaluation import leaderboard
from pipeline.evaluation import metrics as M
from pipeline.evaluation import outputs as evaluate_plots
from pipeline.cell_study import summary as cell_study
from pipeline.reporting import summary as report_data
from pipeline.reporting.figures import curve_figures

N, N_BOOT, SEED = 600, 100, 3
FAMILIES = {"xgb": 0.9, "logreg": 0.7, "forest": 0.5}     # family -> signal strength of its made-up scores
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def scores(strength: float, y: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=len(y))
    return 1 / (1 + np.exp(-(strength * (2 * y - 1) + noise - 1.2)))


def make_reports(root, families=FAMILIES, skipped=None):
    """metrics.json + plots/ as the evaluate stage writes them, from made-up scores (real metric code)."""
    rng = np.random.default_rng(SEED)
    y = (rng.uniform(size=N) < 0.2).astype(int)
    probas = {f: scores(s, y, i) for i, (f, s) in enumerate(families.items())}
    oracle = scores(1.1, y, 99)
    models = {}
    for i, (family, p) in enumerate(probas.items()):
        threshold = M.choose_threshold(y, p)
        models[family] = {**{k: v for k, v in M.evaluate(y, p, threshold, N_BOOT, SEED).items()
                             if k not in ("n", "positives")},
                          "cv_score": 0.9 - 0.01 * i, "n_trials": 7 + i, "n_complete": 5, "n_pruned": 2 + i,
                          "n_failed": 0, "fit_seconds": 1.5 * (i + 1), "best_trial": 3, "predict_seconds": 0.01}
    ranking = list(families)
    predictions = pd.DataFrame(probas)
    metrics = {"best": ranking[0], "metric": "roc_auc", "selected_by": "cv_score", "ranking": ranking,
               "models": models, "skipped": skipped or {},
               "oracle": leaderboard.oracle_row(y, oracle, N_BOOT, SEED),
               "comparison": evaluate_comparison.comparison(y, predictions, ranking, "roc_auc", N_BOOT, SEED),
               "n_test": N, "positives_test": int(y.sum())}
    reports = root / "reports"
    (reports / "plots").mkdir(parents=True)
    (reports / "metrics.json").write_text(json.dumps(metrics))
    for stem, table in evaluate_plots.plot_tables(y, probas, oracle).items():
        table.to_csv(reports / "plots" / f"{stem}.csv", index=False)
    best = ranking[0]
    (reports / "plots" / "confusion.json").write_text(json.dumps(evaluate_plots.confusion(models[best], best)))
    return metrics


def render(root, *extra):
    """The stage in `root`, so inputs not named here fall back to its own (absent) default paths."""
    out = root / "reports" / "index.html"
    cwd = os.getcwd()
    os.chdir(root)
    try:
        report.main(["--params", str(root / "params.yaml"), "--metrics", str(root / "reports" / "metrics.json"),
                     "--plots", str(root / "reports" / "plots"), *extra, "--out", str(out)])
    finally:
        os.chdir(cwd)
    return out.read_text(encoding="utf-8")


class Cells(HTMLParser):
    """Collects, per leaderboard row (tr data-family), every data-key -> (data-value, shown text)."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.key, self.srcs = {}, None, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.srcs += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "tr" and "data-family" in a:
            self.row = self.rows.setdefault(a["data-family"], {})
        if tag == "span" and "data-key" in a and self.row is not None:
            self.key = a["data-key"]
            self.row[self.key] = [a["data-value"], ""]

    def handle_endtag(self, tag):
        if tag == "span":
            self.key = None
        if tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.key and self.row is not None:
            self.row[self.key][1] += data


def parse(page: str) -> Cells:
    cells = Cells()
    cells.feed(page)
    return cells


def expected(values: dict, key: str):
    if key.endswith(("_low", "_high")):
        base, end = key.rsplit("_", 1)
        return values[f"{base}_ci"][0 if end == "low" else 1]
    return values[key]


def test_leaderboard_table_equals_metrics_json(tmp_path):
    metrics = make_reports(tmp_path)
    rows = parse(render(tmp_path)).rows
    assert list(rows) == [*metrics["ranking"], "oracle"]                  # ranked by CV, oracle last
    for family, cells in rows.items():
        values = metrics["oracle"] if family == "oracle" else metrics["models"][family]
        assert {"roc_auc", "roc_auc_low", "roc_auc_high", "average_precision", "average_precision_low",
                "average_precision_high", "log_loss", "brier"} <= set(cells)
        for key, (raw, shown) in cells.items():
            value = expected(values, key)
            assert float(raw) == value, (family, key)                       # the exact metrics.json value
            assert shown.strip() == report_data.fmt_fixed(value, len(shown.strip().split(".")[-1])) \
                or shown.strip() == f"{value:,}", (family, key, shown)  # and what is shown is that value rounded
        extra = {"cv_score", "f1", "threshold", "lift_top_decile", "n_trials", "fit_seconds", "predict_seconds"}
        assert extra <= set(cells) if family != "oracle" else not extra & set(cells)


def test_leaderboard_frame_for_the_app(tmp_path):
    metrics = make_reports(tmp_path)
    table = report_data.leaderboard(metrics)
    assert table["family"].tolist() == [*metrics["ranking"], "oracle"]
    assert table["best"].tolist() == [True, False, False, False]
    row = table.set_index("family").loc["logreg"]
    assert row["roc_auc_low"] == metrics["models"]["logreg"]["roc_auc_ci"][0]
    assert np.isnan(table.set_index("family").loc["oracle", "cv_score"])


def test_headline_and_threshold_rationale(tmp_path, write_params):
    metrics = make_reports(tmp_path)
    write_params(evaluate={"threshold_rule": "cost", "cost_ratio": 7.0})
    page = render(tmp_path)
    assert "7× as much as a false alarm" in page
    assert metrics["comparison"]["verdict"].replace("'", "&#39;") in page           # significance sentence
    best = metrics["models"][metrics["best"]]
    assert f"{best['roc_auc']:.3f}" in page and f"{best['roc_auc_ci'][0]:.3f}" in page
    assert "Oracle" in page


def test_missing_optional_inputs_say_not_available(tmp_path):
    make_reports(tmp_path, skipped={"lstm": "no event log"})
    page = render(tmp_path, "--tune", str(tmp_path / "nope.json"), "--explain", str(tmp_path / "nope.json"),
                  "--prepared", str(tmp_path / "nope"))
    assert "Explanations are not available" in page
    assert "Tuning details are not available" in page
    assert "meta.json was not found" in page
    assert "skipped: no event log" in page


def test_one_offline_file(tmp_path):
    make_reports(tmp_path)
    page = render(tmp_path)
    cells = parse(page)
    external = [s for s in cells.srcs if re.match(r"(?i)^\s*(https?:)?//", s)]
    assert external == []
    assert not re.search(r"(?i)<script[^>]+src=|<link[^>]+stylesheet|@import|url\(\s*['\"]?https?:", page)
    assert page.count("<script") == 3                                       # plotly.js, figure data, init
    assert "Plotly.newPlot" in page and "data-fig=\"roc\"" in page


def test_hostile_names_are_escaped(tmp_path):
    make_reports(tmp_path, families={HOSTILE: 1.2, "logreg": 1.0})
    explain = {"metric": "roc_auc", "n_test": N, "skipped": {},
               "permutation": {"family": HOSTILE, "baseline": 0.8, "n_repeats": 2, "seed": 0,
                               "features": [{"feature": HOSTILE + "</script>", "mean": 0.1, "std": 0.01}]},
               "coefficients": None, "sequence": None}
    (tmp_path / "explain.json").write_text(json.dumps(explain))
    page = render(tmp_path, "--explain", str(tmp_path / "explain.json"))
    assert HOSTILE not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page                                           # shown as text
    assert page.count("</script>") == 3                                      # data never closes a script tag
    rows = parse(page).rows
    assert HOSTILE in rows                                                   # the attribute round-trips intact


def test_bad_input_is_one_line_and_keeps_the_old_page(tmp_path, capsys):
    make_reports(tmp_path)
    render(tmp_path)
    out = tmp_path / "reports" / "index.html"
    before = out.read_bytes()
    (tmp_path / "tune.json").write_text("{not json")
    with pytest.raises(SystemExit) as exit_info:
        render(tmp_path, "--tune", str(tmp_path / "tune.json"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "tune.json" in err and "\n" not in err and "Traceback" not in err
    assert out.read_bytes() == before                                        # atomic: the old page survives
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_missing_metrics_is_an_input_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.main(["--metrics", str(tmp_path / "metrics.json"), "--out", str(tmp_path / "index.html")])
    assert exit_info.value.code == 2
    assert "metrics.json: not found" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()


def test_curve_figures_one_trace_per_model(tmp_path):
    make_reports(tmp_path)
    figures = curve_figures(tmp_path / "reports" / "plots")
    assert list(figures) == ["roc", "pr", "calibration", "gains"]
    names = {kind: [t.name for t in fig.data] for kind, fig in figures.items()}
    assert names["roc"][:4] == [*FAMILIES, "oracle"]                          # + the chance line
    assert names["calibration"][:3] == list(FAMILIES) and "oracle" not in names["calibration"]


def test_provenance_from_dvc_lock(tmp_path):
    make_reports(tmp_path)
    lock = {"schema": "2.0", "stages": {
        "prepare": {"deps": [{"path": "data/raw", "md5": "aaaabbbbccccdddd.dir", "nfiles": 2}],
                    "outs": [{"path": "data/interim/prepared", "md5": "1234567890abcdef.dir", "nfiles": 4}]},
        "report": {"outs": [{"path": "reports/index.html", "md5": "feedfacefeedface"}]}}}
    (tmp_path / "dvc.lock").write_text(json.dumps(lock))    # JSON is valid YAML
    page = render(tmp_path, "--lock", str(tmp_path / "dvc.lock"))
    assert "aaaabbbbcccc" in page and "1234567890ab" in page
    assert "feedfacefeed" not in page                         # the page's own (previous) hash is stale: left out
    assert "not a git checkout" in page                       # tmp_path is no git repository


@pytest.mark.parametrize("rule, words", [("max_f1", "maximises F1"), ("youden", "Youden"),
                                         ("cost", "costs 3× as much as a false alarm")])
def test_threshold_rationale_names_the_rule(rule, words):
    text = report_data.threshold_rationale(rule, 3.0, 0.3141)
    assert words in text and "0.314" in text and "never tuned on the test set" in text


def test_one_model_has_no_runner_up(tmp_path):
    metrics = make_reports(tmp_path, families={"logreg": 0.8})
    assert metrics["comparison"] is None
    page = render(tmp_path)
    assert "there is no runner-up to compare" in page
    assert list(parse(page).rows) == ["logreg", "oracle"]


def test_explain_json_of_another_shape_is_an_input_error(tmp_path, capsys):
    make_reports(tmp_path)
    (tmp_path / "explain.json").write_text(json.dumps({"permutation": {"features": [{"name": "age"}]}}))
    with pytest.raises(SystemExit) as exit_info:
        render(tmp_path, "--explain", str(tmp_path / "explain.json"))
    assert exit_info.value.code == 2
    assert "unexpected structure" in capsys.readouterr().err


def make_cells(path, rnn_norms=(2.0, 1.0, 0.5)):
    """A cells.json as the cells stage writes it (its own summarise), from made-up fits of two cells."""
    def fit(score, norms, auc):
        history = [{"epoch": e, "train_loss": 0.5, "val_auc": auc + 0.01 * e, "grad_norm_mean": n,
                    "grad_norm_max": 3 * n, "grad_norm_nonfinite": 0} for e, n in enumerate(norms)]
        return {"score": score, "seconds": 1.0, "history": history, "capped": False}

    cells = {cell: {run: cell_study.summarise([fit(base + d, norms, base) for d in (0.0, 0.02, 0.04)])
                    for run in cell_study.RUNS}
             for cell, base, norms in (("rnn", 0.6, rnn_norms), ("gru", 0.7, (1.0, 1.1, 1.2)))}
    for entry, (label, gated) in zip(cells.values(), (("plain RNN", False), ("GRU", True))):
        entry.update(seconds=6.0, label=label, gated=gated)
    result = {"skipped": None, "metric": "roc_auc", "seed": 1, "folds": 3, "n_customers": 480, "positives": 70,
              "config": {"hidden_size": 32, "max_len": 32, "lr": 0.003, "max_epochs": 3, "batch_size": 128,
                         "grad_clip": 1.0, "seconds_per_cell": 12.0, "device": "cpu"}, "cells": cells}
    path.write_text(json.dumps(result))
    return result


def test_cells_section_shows_every_cell_its_figures_and_sentences_from_the_data(tmp_path):
    make_reports(tmp_path)
    cells = make_cells(tmp_path / "cells.json")
    page = render(tmp_path, "--cells", str(tmp_path / "cells.json"))
    section = page[page.index('<section id="cells"'):page.index('<section id="data"')]
    assert "Recurrent cells compared" in section and 'href="#cells"' in page
    for cell in ("rnn", "gru"):
        assert f'data-cell="{cell}"' in section
        clipped = cells["cells"][cell]["clipped"]
        assert f"{clipped['mean']:.4f} ± {clipped['sd']:.4f}" in section
    assert 'data-fig="cells-auc"' in section and 'data-fig="cells-gradients"' in section
    assert '"cells-auc"' in page and '"cells-gradients"' in page                # the figure data is inline
    assert "The plain RNN&#39;s mean gradient norm fell from 2 in the first epoch to 0.5 in the last" in section
    assert "The plain RNN is 0.100 below the GRU (more than a fold sd)" in section
    assert "largest batch gradient norm was 6 (plain RNN, epoch 0, 6× the clip value 1; 3× that epoch" in section
    assert section.count("<svg") == 1                                         # the static fallback
    make_cells(tmp_path / "up.json", rnn_norms=(0.5, 1.0, 2.0))
    rising = render(tmp_path, "--cells", str(tmp_path / "up.json"))
    assert "mean gradient norm rose from 0.5 in the first epoch to 2 in the last" in rising


def test_cells_section_without_cells_json_or_when_skipped(tmp_path):
    make_reports(tmp_path)
    page = render(tmp_path, "--cells", str(tmp_path / "nope.json"))
    assert "reports/cells.json was not found" in page and 'data-fig="cells-auc"' not in page
    (tmp_path / "cells.json").write_text(json.dumps({"skipped": "no event log: nothing to read", "cells": {}}))
    page = render(tmp_path, "--cells", str(tmp_path / "cells.json"))
    assert "The cell comparison was skipped: no event log: nothing to read." in page


def label_meta(root, split_method: str):
    """meta.json of a prepare run whose label was built from the event log."""
    prepared = root / "prepared"
    prepared.mkdir(exist_ok=True)
    windows = {"train": ["2025-11-02T00:00:00", "2026-01-01T00:00:00"],
               "test": ["2026-01-01T00:00:00", "2026-03-02T00:00:00"]}
    if split_method == "random":
        windows["train"] = windows["test"]
    meta = {"columns": {"target": "churn_60d"}, "n_train": 3000, "n_test": 2900,
            "label": {"kind": "churn", "event_types": None, "horizon_days": 60.0, "min_history_days": 0.0,
                      "split_method": split_method, "window": windows,
                      "positive_rate": {"train": 0.151, "test": 0.142}}}
    (prepared / "meta.json").write_text(json.dumps(meta))
    return prepared


def test_validation_over_time_shows_in_time_cv_next_to_the_out_of_time_test(tmp_path):
    metrics = make_reports(tmp_path)
    page = render(tmp_path, "--prepared", str(label_meta(tmp_path, "time")))
    section = page[page.index('<section id="over-time"'):page.index('<section id="curves"')]
    assert 'href="#over-time"' in page
    assert "The target churn_60d is built from the event log: 1 when there is no event in the 60 days" in section
    assert "2025-11-02" in section and "2026-03-02" in section
    best = metrics["models"][metrics["best"]]
    assert f'data-value="{best["cv_score"]!r}"' in section and f'data-value="{best["roc_auc"]!r}"' in section
    change = best["roc_auc"] - best["cv_score"]
    assert f"{best['cv_score']:.3f} in time" in section and f"{best['roc_auc']:.3f} out of time" in section
    assert (f"falls by {abs(change):.3f}" if change < 0 else "holds over one period") in section
    random_page = render(tmp_path, "--prepared", str(label_meta(tmp_path, "random")))
    assert "Both validations are in time" in random_page


def test_no_time_section_for_a_customers_tables_target(tmp_path):
    make_reports(tmp_path)
    assert 'id="over-time"' not in render(tmp_path)
