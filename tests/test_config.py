"""Settings (segspark/config.py): conf/segspark.toml is checked, a typo is refused by name."""

from __future__ import annotations

import dataclasses

import pytest

from segspark import config
from segspark.clustering import model
from segspark.errors import UsageError


def test_the_shipped_settings_pass_and_every_model_setting_is_known():
    settings = config.load_settings()
    assert set(settings) == set(config.KNOWN_SETTINGS)
    fields = {field.name for field in dataclasses.fields(model.KMeansSettings)}
    assert fields <= set(config.KNOWN_SETTINGS["model"])
    assert set(settings["model"]) == set(config.KNOWN_SETTINGS["model"])


def test_an_unknown_key_is_refused_naming_it_and_the_known_ones(tmp_path):
    shipped = config.DEFAULT_CONF_FILE.read_text()
    typo = tmp_path / "typo.toml"
    typo.write_text(shipped.replace("restarts = ", "restart = "))
    with pytest.raises(
        UsageError, match=r"typo.toml: unknown setting 'restart' in \[model\]; known: k_min, k_max, .*restarts"
    ):
        config.load_settings(typo)
    table = tmp_path / "table.toml"
    table.write_text(shipped + "\n[modle]\nk_min = 2\n")
    with pytest.raises(
        UsageError, match=r"unknown table \[modle\]; known: input, features, sample, output, model, report, quality"
    ):
        config.load_settings(table)
