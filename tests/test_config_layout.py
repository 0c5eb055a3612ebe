"""Each feature mode, clusterer and extractor carries only the options it reads; configs of the
earlier layout (every option in every section) still load, with the same meaning."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import yaml

from unpick._shared import SCHEMA_VERSION, UnpickInputError
from unpick.cluster import ClusterConfig
from unpick.features import FeatureConfig
from unpick.instances import InstanceConfig
from unpick.workflows import PickConfig

SHIPPED_DEFAULT = Path(__file__).resolve().parents[1] / "workflows" / "pick-default.yaml"
GABOR_OPTIONS = {
    "gabor_frequencies_per_axis", "gabor_signed", "gabor_sigma", "n_gabor_features", "gabor_max_correlation",
    "gabor_selection_voxels",
}  # fmt: skip
LOGGER = "unpick.workflows._config"
VARIANT_SECTIONS = ("intensities", "fft", "gabor", "kmeans", "gmm", "cc", "ws")


def earlier_layout(config: PickConfig) -> dict:
    """``config`` as the earlier ``to_dict`` wrote it: every option of every stage in every section."""
    out = config.to_dict()
    for section in VARIANT_SECTIONS:
        stage = getattr(config, section)
        every = {field.name: getattr(stage, field.name) for field in dataclasses.fields(stage)}
        out[section] = {name: list(v) if isinstance(v, tuple) else v for name, v in every.items()}
    return out


def test_each_mode_and_method_writes_only_the_options_it_reads():
    written = {mode: set(FeatureConfig(mode=mode).to_dict()) for mode in ("intensities", "fft", "gabor")}
    assert written["intensities"] == {"mode", "chunk_megabytes"}
    assert written["fft"] == {"mode", "chunk_megabytes", "fft_dc_scale"}
    assert written["gabor"] == {"mode", "chunk_megabytes"} | GABOR_OPTIONS
    kmeans, gmm = set(ClusterConfig(method="kmeans").to_dict()), set(ClusterConfig(method="gmm").to_dict())
    assert kmeans - gmm == {"n_init"} and gmm - kmeans == {"covariance_type", "reg_covar"}
    assert {"whiten_modes", "whiten_shrinkage"} <= kmeans & gmm  # the GMM may be whitened too
    cc, ws = set(InstanceConfig(method="cc").to_dict()), set(InstanceConfig(method="ws").to_dict())
    assert ws - cc == {"min_distance_voxels"} and cc <= ws
    pick = PickConfig().to_dict()
    assert "n_gabor_features" not in pick["intensities"] and "reg_covar" not in pick["kmeans"]
    assert "min_distance_voxels" not in pick["cc"] and pick["ws"]["min_distance_voxels"] is None


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (FeatureConfig, {"mode": "intensities", "n_gabor_features": 8},
         r"n_gabor_features: expected the default 24 with mode 'intensities', got 8; it applies only to gabor"),
        (FeatureConfig, {"mode": "fft", "gabor_sigma": 2.0}, r"gabor_sigma: .* got 2.0; it applies only to gabor"),
        (FeatureConfig, {"mode": "gabor", "fft_dc_scale": 0.0}, r"fft_dc_scale: .*mode 'gabor', got 0.0; it applies only to fft"),
        (ClusterConfig, {"method": "kmeans", "covariance_type": "full"},
         r"covariance_type: expected the default 'tied' with method 'kmeans', got 'full'; it applies only to gmm"),
        (ClusterConfig, {"method": "kmeans", "reg_covar": 0.1}, r"reg_covar: .* got 0.1; it applies only to gmm"),
        (ClusterConfig, {"method": "gmm", "n_init": 2}, r"n_init: .*method 'gmm', got 2; it applies only to kmeans"),
        (InstanceConfig, {"method": "cc", "min_distance_voxels": 3},
         r"min_distance_voxels: expected the default None with method 'cc', got 3; it applies only to ws"),
    ],
)  # fmt: skip
def test_an_option_the_mode_or_method_does_not_read_is_refused_in_code(kind, options, message):
    with pytest.raises(UnpickInputError, match=message):
        kind(**options)


def test_an_inapplicable_option_at_its_default_is_accepted_and_not_written():
    config = FeatureConfig(mode="intensities", n_gabor_features=24, fft_dc_scale=FeatureConfig().fft_dc_scale)
    assert config == FeatureConfig(mode="intensities") and "n_gabor_features" not in config.to_dict()
    with pytest.raises(UnpickInputError, match="n_gabor_features: .*applies only to gabor"):
        PickConfig().intensities.replace(n_gabor_features=12)


def test_a_config_of_the_earlier_layout_means_what_it_meant(tmp_path, caplog):
    config = PickConfig(
        fft=FeatureConfig(mode="fft", fft_dc_scale=0.0),
        gabor=FeatureConfig(mode="gabor", n_gabor_features=7, gabor_signed=False),
        kmeans=ClusterConfig(method="kmeans", n_init=2, sample_voxels=30_000),
        gmm=ClusterConfig(method="gmm", covariance_type="diag", reg_covar=0.1, whiten_modes=("fft",)),
        ws=InstanceConfig(method="ws", min_distance_voxels=4, connectivity=2),
        seed=3,
    ).with_particle_radius(70.0)
    old = earlier_layout(config)
    assert old["intensities"]["n_gabor_features"] == 24 and old["kmeans"]["covariance_type"] == "tied"
    assert "min_distance_voxels" in old["cc"]
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, **old}))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert PickConfig.from_file(path) == config  # every option, applicable or not, as before
        assert PickConfig.from_dict(old) == config  # a job.json's or a checkpoint's teacher config
    assert caplog.records == []  # options at their defaults where they do not apply go silently
    assert PickConfig.from_dict(config.to_dict()) == config
    path.write_text(config.to_yaml())
    assert PickConfig.from_file(path) == config


def test_a_non_default_option_where_it_does_not_apply_is_dropped_with_a_warning(caplog):
    old = earlier_layout(PickConfig())
    old["intensities"]["n_gabor_features"] = 8
    old["kmeans"]["reg_covar"] = 0.1
    old["gmm"]["n_init"] = 4  # the default: dropped silently
    old["cc"]["min_distance_voxels"] = 3
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        config = PickConfig.from_dict(old)
    assert config == PickConfig()  # the values never had an effect, so the config means the defaults
    assert [record.levelno for record in caplog.records] == [logging.WARNING] * 3
    first, second, third = (record.getMessage() for record in caplog.records)
    assert first.startswith("intensities.n_gabor_features: 8 dropped: only gabor reads it, so it never had an effect")
    assert second.startswith("kmeans.reg_covar: 0.1 dropped: only gmm reads it")
    assert third.startswith("cc.min_distance_voxels: 3 dropped: only ws reads it") and "to the ws section" in third


def test_a_config_written_now_reads_the_same_where_the_left_out_options_are_filled_with_defaults():
    """Why SCHEMA_VERSION stays 1: a section leaves out only options at their defaults, so any reader
    that fills in the defaults (this unpick, or one from before the per-variant layout) reads it back
    as the same config; files of either layout carry the same version."""
    config = PickConfig(
        gabor=FeatureConfig(mode="gabor", n_gabor_features=7),
        gmm=ClusterConfig(method="gmm", reg_covar=0.1),
        ws=InstanceConfig(method="ws", min_distance_voxels=4),
    )
    written = config.to_dict()
    for section in VARIANT_SECTIONS:
        stage = getattr(config, section)
        left_out = {field for field in dataclasses.fields(stage) if field.name not in written[section]}
        assert all(getattr(stage, field.name) == field.default for field in left_out), section
        assert type(stage)(**{name: getattr(stage, name) for name in written[section]}) == stage
    assert yaml.safe_load(config.to_yaml())["schema_version"] == SCHEMA_VERSION == 1


def test_the_shipped_default_config_is_what_to_yaml_writes_for_the_defaults():
    expected = PickConfig().with_particle_radius(100.0)
    lines = SHIPPED_DEFAULT.read_text().splitlines(keepends=True)
    assert "".join(line for line in lines if not line.startswith("#")) == expected.to_yaml()
    assert PickConfig.from_file(SHIPPED_DEFAULT) == expected
