"""Reading conf/segspark.toml: the settings a user changes without touching code.

In a checkout the settings, source formats and Spark defaults are read from the repository's
`conf/`; an installed segspark (a wheel, also one handed to spark-submit with --py-files) reads the
copies it carries as package data (`segspark/conf/`, put there when the wheel is built: setup.py).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from segspark.errors import UsageError

#: The repository: conf/, data/ and out/ live here, whatever the working directory. spark-submit.sh
#: sets SEGSPARK_HOME, because on the driver segspark may be imported from the --py-files zip.
PROJECT_ROOT = Path(os.environ.get("SEGSPARK_HOME") or Path(__file__).resolve().parents[1])
#: True in a checkout (or with SEGSPARK_HOME): the repository's conf/, data/ and out/ are used.
IN_CHECKOUT = (PROJECT_ROOT / "conf" / "segspark.toml").is_file()


def conf_resource(*parts: str):
    """A file of segspark's configuration: the checkout's conf/, else the installed package's copy
    (a Path or an importlib.resources Traversable: both open, iterate and join alike)."""
    if IN_CHECKOUT:
        return PROJECT_ROOT.joinpath("conf", *parts)
    from importlib.resources import files

    return files("segspark").joinpath("conf", *parts)


DEFAULT_CONF_FILE = conf_resource("segspark.toml")


def read_toml(path) -> dict[str, Any]:
    """A TOML file as nested dicts; a missing or malformed file is one clear error naming it."""
    try:
        with path.open("rb") if hasattr(path, "open") else open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None


#: Every setting segspark reads, by table. A key not listed here is a typo or a setting this version
#: does not have, and is refused rather than silently ignored.
KNOWN_SETTINGS: dict[str, tuple[str, ...]] = {
    "input": ("format",),
    "features": ("set",),
    "sample": ("path", "lines", "seed"),
    "output": ("dir",),
    "model": (
        "k_min", "k_max", "seed", "restarts", "seeding_sample", "max_iter", "tol", "training_sample",
        "points_per_partition", "parallel_fits", "stability_resamples",
    ),
    "report": ("scatter_per_segment", "histogram_bins", "top_product_types"),
    "quality": ("max_quarantined_share",),
    "refresh": ("min_shared_share", "min_jaccard", "max_centre_shift"),
    "tracking": ("tracker", "experiment", "required"),
}  # fmt: skip


def check_settings(settings: dict[str, Any], where: str) -> None:
    """Refuse a table or key segspark does not know, naming it and the ones it does."""
    for table, values in settings.items():
        if table not in KNOWN_SETTINGS:
            raise UsageError(f"{where}: unknown table [{table}]; known: {', '.join(KNOWN_SETTINGS)}")
        if not isinstance(values, dict):
            raise UsageError(f"{where}: {table} must be a table ([{table}])")
        for key in values:
            if key not in KNOWN_SETTINGS[table]:
                known = ", ".join(KNOWN_SETTINGS[table])
                raise UsageError(f"{where}: unknown setting {key!r} in [{table}]; known: {known}")


def load_settings(conf_file: str | Path | None = None) -> dict[str, Any]:
    """The settings as nested dicts, checked before any work: conf/segspark.toml, with a user's
    `--conf-file` over it key by key (a file that sets only [model] restarts keeps every other
    default). A key of the wrong kind (text for a number) is refused, naming it."""
    defaults = read_toml(DEFAULT_CONF_FILE)
    check_settings(defaults, str(DEFAULT_CONF_FILE))
    if not conf_file:
        return defaults
    path = Path(conf_file)
    given = read_toml(path)
    check_settings(given, str(path))
    for table, values in given.items():
        for key, value in values.items():
            _check_kind(value, defaults[table][key], f"{path}: [{table}] {key}")
    return {table: {**values, **given.get(table, {})} for table, values in defaults.items()}


def _check_kind(value: Any, default: Any, where: str) -> None:
    """A setting must be of its default's kind (a whole number may stand for a decimal one)."""
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) == isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise UsageError(f"{where} = {value!r}: expected {type(default).__name__}, like the default {default!r}")


def project_path(relative: str) -> str:
    """A path from the configuration, relative to the repository (in a checkout; to the working
    folder where segspark is installed) unless absolute or a URI."""
    if "://" in relative or relative.startswith("file:") or Path(relative).is_absolute():
        return relative
    return str((PROJECT_ROOT if IN_CHECKOUT else Path.cwd()) / relative)


@dataclass(frozen=True)
class SampleSettings:
    """[sample]: the built-in sample's place, size and seed."""

    path: str
    lines: int
    seed: int


@dataclass(frozen=True)
class Settings:
    """conf/segspark.toml (with a user's --conf-file over it), read once, checked, typed by table.

    The stages type their own tables (clustering.model.KMeansSettings from `model`,
    refresh.RefreshSettings from `refresh`); the report reads `report` as given.
    """

    input_format: str
    feature_set: str
    sample: SampleSettings
    output_dir: str
    model: Mapping[str, Any]
    report: Mapping[str, Any]
    max_quarantined_share: float
    refresh: Mapping[str, Any]
    tracking: Mapping[str, Any]

    @classmethod
    def load(cls, conf_file: str | Path | None = None) -> "Settings":
        tables = load_settings(conf_file)
        return cls(
            input_format=tables["input"]["format"],
            feature_set=tables["features"]["set"],
            sample=SampleSettings(**tables["sample"]),
            output_dir=tables["output"]["dir"],
            model=dict(tables["model"]),
            report=dict(tables["report"]),
            max_quarantined_share=float(tables["quality"]["max_quarantined_share"]),
            refresh=dict(tables["refresh"]),
            tracking=dict(tables["tracking"]),
        )
