"""Masking credentials (pipeline/core/secrets.py): passwords holding '@', URLs SQLAlchemy cannot parse,
URLs without a password, SQLite, params nested anywhere, and the log lines and error lines of a stage."""
from __future__ import annotations

import logging

import pytest

from pipeline.core.errors import InputError, MaskSecrets, cli
from pipeline.core.secrets import has_password, mask_params, mask_url, mask_value, quote_password


@pytest.mark.parametrize(("text", "shown"), [
    # SQLAlchemy splits at the first '@' and showed "optuna:***@ss@db-host": the password's tail as host
    ("postgresql+psycopg2://optuna:p@ss@db-host:5432/optuna", "postgresql+psycopg2://optuna:***@db-host:5432/optuna"),
    ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
    ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
    # unparsable for SQLAlchemy (a space in the scheme, a bad port, no scheme): masked all the same
    ("postgres ql://u:pw@h/db", "postgres ql://u:***@h/db"),
    ("postgresql://u:pw@h:port/db", "postgresql://u:***@h:port/db"),
    ("u:pw@h/db", "u:***@h/db"),
    ("postgresql://h/db?sslmode=require&password=pw", "postgresql://h/db?sslmode=require&password=***"),
    ("host=h password=pw user=u", "host=h password=*** user=u"),
    # nothing to hide
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("sqlite:///optuna/studies.db", "sqlite:///optuna/studies.db"),
    ("sqlite://", "sqlite://"),
    ("mail bob@example.com at 10:30", "mail bob@example.com at 10:30"),
])
def test_mask_url_hides_every_password_and_only_passwords(text, shown):
    assert mask_url(text) == shown
    message = "error: storage {!r} is not a database URL."
    assert mask_url(message.format(text)) == message.format(shown)   # quoted inside a message


def test_a_whole_value_is_masked_even_with_a_space_in_its_password():
    assert mask_value("postgresql://u:a b@c@h/db") == "postgresql://u:***@h/db"
    assert mask_value("Churn: yes @ 30 days") == "Churn: yes @ 30 days"   # a sentence, not a URL
    assert has_password("postgresql://u:p@ss@h/db") and not has_password("postgresql://u@h/db")
    assert not has_password(None) and not has_password("sqlite:///optuna/studies.db")


def test_mask_params_masks_urls_anywhere_in_nested_params():
    params = {"seed": 1, "tune": {"storage": "postgresql://u:p@ss@h/db", "models": ["x://a:b@c", "logreg"]},
              "data": {"customers": "data/raw/customers.csv"}, "flag": None}
    assert mask_params(params) == {
        "seed": 1, "tune": {"storage": "postgresql://u:***@h/db", "models": ["x://a:***@c", "logreg"]},
        "data": {"customers": "data/raw/customers.csv"}, "flag": None}
    assert params["tune"]["storage"] == "postgresql://u:p@ss@h/db"   # a copy: the run still has its URL


def test_quote_password_lets_sqlalchemy_find_the_host():
    from sqlalchemy.engine import make_url

    url = make_url(quote_password("postgresql+psycopg2://optuna:p@ss@db-host:5432/optuna"))
    assert (url.host, url.port, url.password, url.database) == ("db-host", 5432, "p@ss", "optuna")
    for unchanged in ("postgresql://u:p%40ss@h/db", "postgresql://u:pw@h/db", "sqlite:///a.db", "localhost:5432"):
        assert quote_password(unchanged) == unchanged


def test_error_lines_and_log_lines_are_masked(capsys):
    @cli
    def stage(argv=None):
        raise InputError("tune: cannot open postgresql://u:p@ss-S3cret@h/db")

    with pytest.raises(SystemExit):
        stage([])
    err = capsys.readouterr().err
    assert "S3cret" not in err and "postgresql://u:***@h/db" in err
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "lost %s", ("postgresql://u:p@ss-S3cret@h/db",), None)
    assert MaskSecrets().filter(record) and record.getMessage() == "lost postgresql://u:***@h/db"
