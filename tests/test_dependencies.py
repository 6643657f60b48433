"""pyproject.toml's minimum versions stay above the published model-loading vulnerabilities of the libraries
that load saved models (skops: the tabular pipelines, torch: the sequence model's weights, lightgbm: its
booster), and requirements.lock pins versions at or above them."""
from __future__ import annotations

import tomllib

import pytest
from conftest import REPO
from packaging.requirements import Requirement
from packaging.version import Version

# package -> (first safe version, the last vulnerable release below it, the advisories)
FLOORS = {
    "skops": ("0.13", "0.12.0", "CVE-2024-37065 (<0.10), CVE-2025-54412/54413 (<0.12), CVE-2025-54886 (<0.13)"),
    "torch": ("2.10", "2.9.1", "CVE-2025-32434 (<2.6.0), CVE-2026-24747 (<2.10.0): torch.load(weights_only=True)"),
    "lightgbm": ("4.6", "4.5.0", "CVE-2024-43598 (<4.6.0)"),
}


def requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {r.name: r for r in map(Requirement, project["dependencies"])}


def locked() -> dict[str, Version]:
    pins = (line.split("==") for line in (REPO / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.startswith("#"))
    return {name.strip().lower(): Version(version.strip()) for name, version in pins}


@pytest.mark.parametrize("package", FLOORS)
def test_minimum_version_is_above_the_known_vulnerable_releases(package):
    floor, vulnerable, advisories = FLOORS[package]
    spec = requirements()[package].specifier
    assert not spec.contains(vulnerable), f"{package}: {spec} still allows {vulnerable} ({advisories})"
    assert spec.contains(floor), f"{package}: {spec} excludes the first safe release {floor}"


@pytest.mark.parametrize("package", FLOORS)
def test_lock_file_pins_a_version_at_or_above_the_floor(package):
    assert locked()[package] >= Version(FLOORS[package][0])
