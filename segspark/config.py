"""Reading conf/segspark.toml: the settings a user changes without touching code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from segspark.errors import UsageError

#: The repository: conf/, data/ and out/ live here, whatever the working directory. spark-submit.sh
#: sets SEGSPARK_HOME, because on the driver segspark may be imported from the --py-files zip.
PROJECT_ROOT = Path(os.environ.get("SEGSPARK_HOME") or Path(__file__).resolve().parents[1])
DEFAULT_CONF_FILE = PROJECT_ROOT / "conf" / "segspark.toml"


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as nested dicts; a missing or malformed file is one clear error naming it."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None


def load_settings(conf_file: str | Path | None = None) -> dict[str, Any]:
    """The settings as nested dicts (conf/segspark.toml unless another file is given)."""
    return read_toml(Path(conf_file) if conf_file else DEFAULT_CONF_FILE)


def setting(settings: dict[str, Any], dotted: str) -> Any:
    """One setting by its dotted name ("sample.lines"); missing ones are an error naming them."""
    value: Any = settings
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UsageError(f"configuration has no setting {dotted!r}")
        value = value[part]
    return value


def project_path(relative: str) -> str:
    """A path from the configuration, relative to the repository unless absolute or a URI."""
    if "://" in relative or relative.startswith("file:") or Path(relative).is_absolute():
        return relative
    return str(PROJECT_ROOT / relative)
