"""params.yaml loading: defaults, overrides, and unknown keys failing loudly."""
import dataclasses
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from pipeline.core.errors import InputError
from pipeline.core import params as P
from pipeline.core.params import RULES, Params, as_dict, load_params


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repo_params_file_loads_and_matches_defaults():
    params = load_params(REPO / "params.yaml")
    assert params.seed == 42
    assert params.data.source == "synthetic"
    assert params.data.synthetic.n_customers == 20000
    assert params.split.test_size == 0.2


def test_every_default_is_spelled_out_in_params_yaml():
    """params.yaml holds every knob: each dataclass field appears in the file."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())

    def keys(obj, prefix=""):
        out = set()
        for name, value in vars(obj).items():
            if hasattr(value, "__dataclass_fields__"):
                out |= keys(value, f"{prefix}{name}.")
            else:
                out.add(f"{prefix}{name}")
        return out

    def flat(d, prefix=""):
        out = set()
        for k, v in d.items():
            out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) and k != "buckets" else {f"{prefix}{k}"}
        return out

    assert keys(Params()) == flat(raw)


def test_partial_file_fills_defaults(tmp_path):
    params = load_params(write(tmp_path, {"seed": 7, "data": {"target": "converted"}}))
    assert params.seed == 7 and params.data.target == "converted"
    assert params.data.id_column == "customer_id"


@pytest.mark.parametrize(
    "data, match",
    [
        ({"sede": 1}, r"unknown key\(s\) \['sede'\]"),
        ({"data": {"custmers": "x.csv"}}, r"'data.custmers'"),
        ({"data": {"synthetic": {"n_customer": 5}}}, r"'data.synthetic.n_customer'"),
        ({"seed": "forty-two"}, r"'seed' should be"),
        ({"split": {"test_size": "big"}}, r"'split.test_size' should be"),
        ({"split": 3}, r"'split' must be a mapping"),
    ],
)
def test_bad_params_are_one_line_errors(tmp_path, data, match):
    with pytest.raises(InputError, match=match) as info:
        load_params(write(tmp_path, data))
    assert "\n" not in str(info.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(InputError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1, 2\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_params(bad)


def test_unquoted_yaml_date_is_accepted_as_text(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  cutoff: 2026-01-01\n")
    assert load_params(path).data.cutoff == "2026-01-01"


# Each is accepted by the type check alone today and changes what a stage does (or fails deep inside it).
@pytest.mark.parametrize(
    "data, match",
    [
        ({"data": {"max_unmatched_event_share": 5}}, r"'data.max_unmatched_event_share' must be in \[0, 1\], got 5\."),
        ({"data": {"max_category_levels": -1}}, r"'data.max_category_levels' must be >= 1, got -1\."),
        ({"data": {"event_chunk_rows": 0}}, r"'data.event_chunk_rows' must be >= 1"),
        ({"data": {"source": "file"}}, r"'data.source' must be one of \['synthetic', 'files'\], got 'file'"),
        ({"data": {"synthetic": {"positive_rate": 1.5}}}, r"'data.synthetic.positive_rate' must be in \(0, 1\)"),
        ({"data": {"synthetic": {"event_types": ["logins"]}}}, r"'data.synthetic.event_types' must be a list with"),
        ({"label": {"kind": "churned"}}, r"'label.kind' must be one of \['churn', 'repeat', 'event'\]"),
        ({"label": {"horizon_days": 0}}, r"'label.horizon_days' must be > 0"),
        ({"label": {"event_types": []}}, r"'label.event_types' must be a non-empty list or null, got \[\]"),
        ({"split": {"test_size": 1}}, r"'split.test_size' must be in \(0, 1\), got 1\."),
        ({"split": {"method": "temporal"}}, r"'split.method' must be one of"),
        ({"eda": {"bins": 0}}, r"'eda.bins' must be >= 1"),
        ({"impute": {"numeric": "medain"}}, r"'impute.numeric' must be one of \['median', 'mean'"),
        ({"impute": {"categorical": "mode"}}, r"'impute.categorical' must be one of"),
        ({"outliers": {"mode": "cap"}}, r"'outliers.mode' must be one of \['drop', 'clip', 'none'\]"),
        ({"outliers": {"max_drop_share": 25}}, r"'outliers.max_drop_share' must be in \[0, 1\]"),
        ({"features": {"windows_days": [0, 30]}}, r"'features.windows_days' must be a list with every entry >= 1"),
        ({"features": {"windows_days": []}}, r"'features.windows_days' must be a non-empty list"),
        ({"features": {"rare_min_share": 1}}, r"'features.rare_min_share' must be in \[0, 1\)"),
        ({"features": {"transitions": -1}}, r"'features.transitions' must be >= 0"),
        ({"features": {"embedding": {"min_share": 0}}}, r"'features.embedding.min_share' must be in \(0, 1\]"),
        ({"features": {"embedding": {"dim": -1}}}, r"'features.embedding.dim' must be >= 0"),
        ({"resample": {"method": "adasyn"}}, r"'resample.method' must be one of"),
        ({"resample": {"sampling_strategy": 2}}, r"'resample.sampling_strategy' must be in \(0, 1\] or one of"),
        ({"resample": {"sampling_strategy": "balanced"}}, r"'resample.sampling_strategy' must be one of .* or in"),
        ({"tune": {"trials": 0}}, r"'tune.trials' must be >= 1"),
        ({"tune": {"folds": 1}}, r"'tune.folds' must be >= 2"),
        ({"tune": {"timeout": 0}}, r"'tune.timeout' must be > 0 or null, got 0\."),
        ({"tune": {"metric": "auc"}}, r"'tune.metric' must be one of \['roc_auc', 'average_precision', 'log_loss'\]"),
        ({"tune": {"device": "gpu"}}, r"'tune.device' must be one of \['auto', 'cpu', 'cuda'\]"),
        ({"tune": {"pruner": "median "}}, r"'tune.pruner' must be one of"),
        ({"tune": {"n_jobs": -1}}, r"'tune.n_jobs' must be >= 1"),
        ({"tune": {"search_rows": 50}}, r"'tune.search_rows' must be >= 100 or one of \['auto'\] or null, got 50\."),
        ({"evaluate": {"threshold_rule": "f1"}}, r"'evaluate.threshold_rule' must be one of"),
        ({"evaluate": {"n_boot": 0}}, r"'evaluate.n_boot' must be >= 1"),
        ({"explain": {"max_rows": 1}}, r"'explain.max_rows' must be >= 2 or null"),
        ({"cells": {"cells": []}}, r"'cells.cells'"),
        ({"cells": {"device": "gpu"}}, r"'cells.device' must be one of"),
        ({"seed": -1}, r"'seed' must be in \[0, 4294967295\]"),
        ({"split": {"test_size": float("nan")}}, r"'split.test_size' must be a finite number, got nan"),
    ],
)
def test_out_of_range_and_unknown_names_are_one_line_errors_naming_the_key(tmp_path, data, match):
    with pytest.raises(InputError, match=match) as info:
        load_params(write(tmp_path, data))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        {"data": {"max_unmatched_event_share": 0}, "features": {"transitions": 0, "follows": 0, "embedding": {"dim": 0}}},
        {"tune": {"search_rows": None, "timeout": None, "models": ["xgb"]}, "resample": {"sampling_strategy": "auto"}},
        {"tune": {"search_rows": 100}, "resample": {"sampling_strategy": 1}, "cells": {"cells": ["gru"]}},
        {"features": {"embedding": {"min_gain": -0.01, "max_customers": None}}, "label": {"event_types": None}},
    ],
)
def test_boundaries_and_off_switches_are_accepted(tmp_path, data):
    load_params(write(tmp_path, data))


def test_every_default_satisfies_its_rules(tmp_path):
    """The defaults written out in full load back unchanged (params.yaml's own values: the test above)."""
    assert load_params(write(tmp_path, as_dict(Params()))) == Params()


def rules_of(cls: type, prefix: str = "") -> dict[str, tuple]:
    out = {}
    for spec in dataclasses.fields(cls):
        if dataclasses.is_dataclass(spec.default_factory if spec.default_factory is not dataclasses.MISSING
                                    else None):
            out |= rules_of(spec.default_factory, f"{prefix}{spec.name}.")
        else:
            out[f"{prefix}{spec.name}"] = spec.metadata.get(RULES, ())
    return out


# Settings left free on purpose: names and paths (checked against the files), dates (parsed where used),
# flags, log-odds and a fill value (any finite number means something), and lists checked by their consumer.
FREE = {"data.customers", "data.events", "data.id_column", "data.target", "data.positive_label",
        "data.dayfirst", "data.decimal_comma",   # true, false or null: the type check is the whole rule
        "data.timestamp_column", "data.event_type_column", "data.cutoff", "data.numeric", "data.categorical",
        "data.ignore", "data.synthetic.snapshot_date", "data.synthetic.order_effect",
        "data.synthetic.order_pattern_effect", "label.from_events", "label.cutoff", "split.column",
        "impute.add_indicator", "impute.fill_value", "outliers.exempt", "features.ratios", "features.buckets",
        "tune.storage", "tune.study_name", "tune.race", "tune.resume", "tune.final_fit"}


def test_every_setting_has_a_decided_range_or_is_free_on_purpose():
    """A new number or name gets a range or enum (or joins FREE knowingly), so a typo cannot switch it off."""
    rules = rules_of(Params)
    assert {k for k, r in rules.items() if not r} == FREE
    assert not FREE - set(rules)


def test_enum_names_agree_with_their_consumers():
    from pipeline.data.simulator import EVENT_TYPES
    from pipeline.data.sources import SOURCES
    from pipeline.evaluation.definitions import OBJECTIVES
    from pipeline.labels.window import KINDS, SPLIT_METHODS
    from pipeline.preprocessing.fences import MODES
    from pipeline.preprocessing.imputation import CATEGORICAL_STRATEGIES, NUMERIC_STRATEGIES
    from pipeline.reporting.summary import RULES as threshold_rules
    from pipeline.resampling.samplers import METHODS, STRATEGIES
    from pipeline.tuning.search_sample import MIN_ROWS
    from pipeline.tuning.studies import make_pruner

    assert (P.SOURCES, P.SYNTHETIC_EVENT_TYPES, P.LABEL_KINDS, P.SPLIT_METHODS) == (SOURCES, EVENT_TYPES, KINDS,
                                                                                    SPLIT_METHODS)
    assert (P.NUMERIC_IMPUTERS, P.CATEGORICAL_IMPUTERS, P.OUTLIER_MODES) == (NUMERIC_STRATEGIES,
                                                                            CATEGORICAL_STRATEGIES, MODES)
    assert (P.RESAMPLE_METHODS, P.RESAMPLE_STRATEGIES) == (METHODS, STRATEGIES)
    assert (P.METRICS, P.THRESHOLD_RULES, P.MIN_SEARCH_ROWS) == (tuple(OBJECTIVES), tuple(threshold_rules), MIN_ROWS)
    for name in P.PRUNERS:
        make_pruner(name)
