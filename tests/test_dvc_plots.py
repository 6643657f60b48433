"""`dvc metrics show` and `dvc plots show` on the session's tiny `dvc repro` project (conftest dvc_project).

The curve tables are long format (one `model` column); the top-level `plots:` of dvc.yaml must draw
one series per tuned model (plus the oracle on ROC/PR) on shared axes, through .dvc/plots templates.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml
from conftest import REPO, run_command

from pipeline.models.registry import FAMILIES

PLOTS = {"roc": ("fpr", "tpr"), "precision_recall": ("recall", "precision"),
         "calibration": ("mean_predicted", "observed"), "gains": ("share_targeted", "share_captured")}


def show(project: Path, *args: str) -> dict:
    """JSON of a `dvc ... --json` command (stdout only: DVC may log to stderr)."""
    out = run_command(["dvc", *args, "--json"], project)
    return json.loads(out[out.index("{"):out.rindex("}") + 1])


def tuned_families(project: Path) -> list[str]:
    """tune.models of the project (or every registered family when it is null, the default), plus the
    ensemble tune blends from them."""
    families = yaml.safe_load((project / "params.yaml").read_text())["tune"]["models"] or list(FAMILIES)
    return [*families, *(["ensemble"] if (project / "models/tuned/ensemble/info.json").is_file() else [])]


def templates(project: Path) -> Path:
    # The templates live in the repo's .dvc/plots; a fresh `dvc init` does not have them.
    shutil.copytree(REPO / ".dvc" / "plots", project / ".dvc" / "plots", dirs_exist_ok=True)
    return project


def test_metrics_show_prints_one_row_per_family(dvc_project):
    """The DVC metrics are reports/summary/<family>.json: flat, so `dvc metrics show` is a readable table."""
    shown = next(iter(show(dvc_project, "metrics", "show").values()))["data"]
    tuned = tuned_families(dvc_project)
    cells = shown.pop("reports/cells_metrics.json")["data"]   # the cells stage's own metrics: mean/sd per cell
    assert set(cells) == set(yaml.safe_load((dvc_project / "params.yaml").read_text())["cells"]["cells"])
    rows = {Path(path).stem: entry["data"] for path, entry in shown.items()}
    assert set(rows) == {*tuned, "oracle"} and all(Path(p).parent.name == "summary" for p in shown)
    assert "ensemble" in tuned   # five families tuned: the blend is a model of its own
    metrics = json.loads((dvc_project / "reports" / "metrics.json").read_text())
    for family in tuned:
        assert rows[family] == {"rank": metrics["ranking"].index(family) + 1,
                                **{k: metrics["models"][family][k] for k in ("roc_auc", "average_precision",
                                                                             "cv_score", "brier")}}
    assert rows[metrics["best"]]["rank"] == 1
    table = run_command(["dvc", "metrics", "show"], dvc_project)
    assert all(f"reports/summary/{family}.json" in table for family in tuned)   # a line per family


def test_plots_show_draws_one_series_per_model(dvc_project):
    project = templates(dvc_project)
    tuned = set(tuned_families(project))
    shown = show(project, "plots", "show")
    assert not shown.get("errors"), shown["errors"]
    data = shown["data"]
    assert set(data) == {*PLOTS, "confusion"}
    for name, (x, y) in PLOTS.items():
        spec = data[name][0]["content"]
        assert spec["encoding"]["color"]["field"] == "model", name       # a line per model ...
        assert (spec["encoding"]["x"]["field"], spec["encoding"]["y"]["field"]) == (x, y), name   # ... shared axes
        models = {row["model"] for row in spec["data"]["values"]}
        assert models == tuned | ({"oracle"} if name in ("roc", "precision_recall") else set()), name
    confusion = data["confusion"][0]["content"]["data"]["values"]
    assert {row["model"] for row in confusion} == tuned and len(confusion) == 4 * len(tuned)
    run_command(["dvc", "plots", "show", "-o", "dvc_plots"], project)
    html = (project / "dvc_plots" / "index.html").read_text()
    assert sorted(re.findall(r"vegaEmbed\('#(\w+)'", html)) == sorted([*PLOTS, "confusion"])
