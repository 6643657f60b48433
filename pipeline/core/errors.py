"""One error type for bad input, and the CLI wrapper that turns it into one line and exit 2."""
from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.core.secrets import mask_url

EXIT_BAD_INPUT = 2
EXIT_STAGE_FAILED = 1
MAX_SHOWN = 5


class InputError(ValueError):
    """Bad user input (data or params). The message is the whole one-line explanation."""


def show_rows(rows: Sequence[Any], total: int | None = None) -> str:
    """'rows [3, 17, 90]' or 'rows [3, 17, 90, 91, 95] (+12 more)': the first few offenders."""
    total = len(rows) if total is None else total
    shown = [int(r) if isinstance(r, (int,)) or hasattr(r, "__index__") else r for r in list(rows)[:MAX_SHOWN]]
    more = f" (+{total - len(shown)} more)" if total > len(shown) else ""
    return f"rows {shown}{more}"


def show_values(values: Sequence[Any]) -> str:
    """The first few offending values, repr'd so blanks and types are visible."""
    vals = list(values)
    more = f" (+{len(vals) - MAX_SHOWN} more)" if len(vals) > MAX_SHOWN else ""
    return "[" + ", ".join(repr(v) for v in vals[:MAX_SHOWN]) + "]" + more


def cli(main: Callable[..., None]) -> Callable[..., None]:
    """Wrap a stage's main(): InputError -> one line on stderr and exit code 2, no traceback."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> None:
        try:
            main(argv)
        except InputError as err:
            logging.getLogger(main.__module__).debug("input error", exc_info=True)
            print(f"error: {mask_url(str(err))}", file=sys.stderr)   # a URL in a message loses its password
            sys.exit(EXIT_BAD_INPUT)
        except StageError as err:
            print(f"error: {mask_url(str(err))}", file=sys.stderr)
            sys.exit(EXIT_STAGE_FAILED)

    return wrapper


class StageError(RuntimeError):
    """A stage could not produce its outputs for a reason the user must act on (not bad input)."""


def setup_logging() -> None:
    """One format for every stage's log (called from main() only, never at import)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())


class MaskSecrets(logging.Filter):
    """Masks URL passwords in every log line, a library's included (our own messages mask at the source)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if (masked := mask_url(text)) != text:
            record.msg, record.args = masked, None
        return True
