"""`.env` files, read the way python-dotenv reads them, through the one bounded input reader.

Shared by the profile's environment (`fixload.profile.environment`) and the simulator's `--env-out` reader,
so a line that cannot be parsed is named the same way everywhere, and never shown: it may hold a token.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from dotenv.parser import parse_stream

from fixload.common.files import MAX_ENV_FILE_BYTES, InputFileError, read_input

_LEADING_NAME = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)")


class EnvError(Exception):
    """Missing or unreadable environment; the message lists every problem at once."""


def read_env_file(path: Path) -> dict[str, str]:
    """A `.env` file's variables; a line python-dotenv cannot parse is an error naming its line."""
    try:
        text = read_input(path, "an env file", MAX_ENV_FILE_BYTES).decode("utf-8")
    except InputFileError as exc:
        raise EnvError(f"env file {exc}") from None
    except UnicodeDecodeError as exc:
        raise EnvError(f"env file {path}: not UTF-8 text: {exc.reason}") from None
    values: dict[str, str] = {}
    problems = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            # Only the variable's name is shown: the rest of a broken line may be a token (`K6_USER_TOKEN abc`).
            text = binding.original.string
            name = _LEADING_NAME.match(text)
            shown = f"the line starting {name.group(1)!r}" if name else "the line"
            # python-dotenv's binding starts at the blank lines before it; count to the line itself
            line = binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")
            problems.append(
                f"env file {path} line {line}: cannot parse {shown}; expected NAME=value"
                " (the rest of the line is not shown, it may hold a secret)"
            )
        elif binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    if problems:
        raise EnvError("\n".join(problems))
    return values
