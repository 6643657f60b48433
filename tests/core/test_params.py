"""params.yaml loading: defaults, overrides, and unknown keys failing loudly."""
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from pipeline.core.errors import InputError
from pipeline.core.params import Params, load_params


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
