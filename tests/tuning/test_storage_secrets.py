"""The Optuna storage URL never shows its password: not when shown, not when it cannot be parsed or
opened, not as a folder name; a password in params.yaml's tune.storage gets one warning (dvc.lock)."""
from __future__ import annotations

import argparse
import logging

import pytest

from pipeline.core.errors import InputError
from pipeline.core.params import TuneParams
from pipeline.tuning import storage as stores
from pipeline.tuning.settings import merged_settings

SECRET = "S3cret"


def test_safe_url_masks_a_password_holding_an_at_sign():
    # SQLAlchemy's parser showed "optuna:***@ss-S3cret@db-host": the password's tail as the host
    assert stores.safe_url(f"postgresql+psycopg2://optuna:p@ss-{SECRET}@db-host:5432/optuna") == \
        "postgresql+psycopg2://optuna:***@db-host:5432/optuna"
    assert stores.safe_url(None) == stores.DEFAULT_STORAGE


def test_a_password_holding_an_at_sign_reaches_the_right_host():
    url = stores.resolve_url(None, "postgresql+psycopg2://optuna:p@ss@db-host:5432/optuna")
    assert stores.engine_kwargs(url)["pool_pre_ping"]   # read as PostgreSQL on db-host, not host "ss@db-host"
    assert url == "postgresql+psycopg2://optuna:p%40ss@db-host:5432/optuna"


@pytest.mark.parametrize("url", [f"postgres ql://optuna:{SECRET}@db-host/optuna",
                                 f"optuna:{SECRET}@db-host:5432/optuna"])
def test_an_unparsable_url_is_never_echoed(url):
    with pytest.raises(InputError, match="not a database URL") as info:
        stores.make_storage(url, heartbeat=1, grace=3)
    assert SECRET not in str(info.value) and ":***@db-host" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__   # SQLAlchemy's message quotes it raw


def test_a_sqlite_url_with_a_password_is_refused_masked_and_makes_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"cannot open Optuna storage sqlite://u:\*\*\*@/") as info:
        stores.make_storage(f"sqlite://u:{SECRET}@/{tmp_path}/studies.db", heartbeat=1, grace=3)
    assert SECRET not in str(info.value)
    assert not [p for p in tmp_path.rglob("*") if SECRET in str(p)]   # the raw URL was once made a folder


def test_a_driver_error_quoting_the_dsn_is_masked():
    assert stores.first_line(ValueError(f"invalid dsn: host=h password={SECRET} user=u\nmore")) == \
        "invalid dsn: host=h password=*** user=u"


def test_a_password_in_params_storage_warns_once_about_dvc_lock(caplog):
    caplog.set_level(logging.WARNING)
    url = f"postgresql+psycopg2://optuna:{SECRET}@db-host:5432/optuna"
    merged_settings(argparse.Namespace(), TuneParams(storage=url))
    warned = [r.getMessage() for r in caplog.records if "dvc.lock" in r.getMessage()]
    assert len(warned) == 1 and "PGPASSWORD" in warned[0] and SECRET not in caplog.text
    caplog.clear()
    merged_settings(argparse.Namespace(), TuneParams(storage="postgresql+psycopg2://optuna@db-host:5432/optuna"))
    assert not [r for r in caplog.records if "dvc.lock" in r.getMessage()]
