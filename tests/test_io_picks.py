"""Tests for unpick.io picks writers and picks / ground-truth readers."""

from __future__ import annotations

import json
import logging
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import starfile

from unpick._shared import UnpickInputError, make_picks
from unpick.evaluate import select_classes
from unpick.io import (
    read_picks_copick,
    read_picks_csv,
    read_picks_ndjson,
    read_picks_star,
    read_truth,
    write_picks,
    write_picks_copick,
    write_picks_csv,
    write_picks_ndjson,
    write_picks_star,
)

SHAPE = (40, 60, 100)  # (Z, Y, X) voxels
VOXEL = 7.5


def _picks(n=12, seed=0, voxel=VOXEL, tomogram="rec_TS_01"):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 1, size=(n, 3)) * np.array(SHAPE)  # non-integer zyx
    return make_picks(coords, voxel_size_angstrom=voxel, score=rng.uniform(0, 1, n), size=rng.integers(5, 50, n),
                      workflow="gabor-kmeans-cc", tomogram=tomogram)


def _one_pick(x=10.0, y=20.0, z=3.0, voxel=5.0, score=0.75):
    return make_picks([[z, y, x]], voxel_size_angstrom=voxel, score=[score], size=[30], tomogram="rec_TS_07")


def _xyz(table):
    return table[["x", "y", "z"]].to_numpy(dtype=float)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_csv_round_trip_is_exact(tmp_path, suffix):
    picks = _picks()
    back = read_picks_csv(write_picks_csv(tmp_path / f"p{suffix}", picks))
    np.testing.assert_array_equal(_xyz(back), _xyz(picks))
    np.testing.assert_array_equal(back["score"], picks["score"])
    np.testing.assert_array_equal(back["size"], picks["size"])
    assert list(back["tomogram"]) == ["rec_TS_01"] * len(picks)
    assert list(back["workflow"]) == ["gabor-kmeans-cc"] * len(picks)
    np.testing.assert_allclose(back["x_angstrom"], picks["x"] * VOXEL, rtol=1e-15)


def test_tsv_is_tab_separated(tmp_path):
    path = write_picks_csv(tmp_path / "p.tsv", _picks(n=2))
    header = path.read_text().splitlines()[0]
    assert header.split("\t")[:3] == ["x", "y", "z"]


def test_star_round_trip(tmp_path):
    picks = _picks()
    path = write_picks_star(tmp_path / "p.star", picks, volume_shape_zyx=SHAPE)
    back = read_picks_star(path, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE)
    np.testing.assert_allclose(_xyz(back), _xyz(picks), atol=1e-6 / VOXEL)  # 6 decimals in Å
    np.testing.assert_allclose(back["score"], picks["score"], atol=1e-6)
    assert list(back["tomogram"]) == ["TS_01"] * len(picks)


def test_copick_round_trip(tmp_path):
    picks = _picks()
    path = write_picks_copick(tmp_path / "p.json", picks, object_name="ribosome")
    back = read_picks_copick(path, voxel_size_angstrom=VOXEL)
    np.testing.assert_allclose(_xyz(back), _xyz(picks), rtol=1e-14)
    np.testing.assert_array_equal(back["score"], picks["score"])
    assert set(back["class"]) == {"ribosome"}
    assert set(back["tomogram"]) == {"TS_01"}
    # the file's own voxel_spacing is the default
    np.testing.assert_allclose(_xyz(read_picks_copick(path)), _xyz(picks), rtol=1e-14)


def test_ndjson_round_trip_is_exact(tmp_path):
    picks = _picks()
    back = read_picks_ndjson(write_picks_ndjson(tmp_path / "p.ndjson", picks))
    np.testing.assert_array_equal(_xyz(back), _xyz(picks))
    np.testing.assert_array_equal(back["score"], picks["score"])


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".star", ".json", ".ndjson"])
def test_dispatch_round_trip(tmp_path, suffix):
    picks = _picks(seed=3)
    path = write_picks(tmp_path / f"picks{suffix}", picks, volume_shape_zyx=SHAPE, object_name="apo")
    back = read_truth(path, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE)
    np.testing.assert_allclose(_xyz(back), _xyz(picks), atol=1e-6)
    np.testing.assert_allclose(back["score"], picks["score"], atol=1e-6)


@pytest.mark.parametrize("suffix", [".csv", ".star", ".json", ".ndjson"])
def test_empty_picks_round_trip(tmp_path, suffix):
    picks = _picks(n=0)
    path = write_picks(tmp_path / f"none{suffix}", picks, volume_shape_zyx=SHAPE)
    back = read_truth(path, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE)
    assert len(back) == 0
    assert list(back.columns[:3]) == ["x", "y", "z"]


# ---------------------------------------------------------------- known answers


def test_csv_known_answer(tmp_path):
    path = write_picks_csv(tmp_path / "p.csv", _one_pick())
    raw = pd.read_csv(path)
    assert (raw.loc[0, "x_angstrom"], raw.loc[0, "y_angstrom"], raw.loc[0, "z_angstrom"]) == (50.0, 100.0, 15.0)
    assert (raw.loc[0, "x"], raw.loc[0, "voxel_size_angstrom"]) == (10.0, 5.0)


def test_star_known_answer(tmp_path):
    # x = 10 of 100 voxels at 5 Å: (10 - 50) * 5 = -200; y = 20 of 60: (20 - 30) * 5 = -50; z = 3 of 40: -85
    path = write_picks_star(tmp_path / "p.star", _one_pick(), volume_shape_zyx=(40, 60, 100))
    blocks = starfile.read(path, always_dict=True)
    assert list(blocks) == ["optics", "particles"]
    row = blocks["particles"].iloc[0]
    assert row["rlnTomoName"] == "TS_07" and row["rlnOpticsGroup"] == 1
    assert (row["rlnCenteredCoordinateXAngst"], row["rlnCenteredCoordinateYAngst"],
            row["rlnCenteredCoordinateZAngst"]) == (-200.0, -50.0, -85.0)
    assert row["rlnAutopickFigureOfMerit"] == 0.75
    optics = blocks["optics"].iloc[0] if hasattr(blocks["optics"], "iloc") else blocks["optics"]
    assert (optics["rlnOpticsGroupName"], optics["rlnImagePixelSize"]) == ("TS_07", 5.0)
    # self-describing: read back without a voxel size
    back = read_picks_star(path, volume_shape_zyx=(40, 60, 100))
    np.testing.assert_allclose(_xyz(back), [[10, 20, 3]])


def test_relion4_pixel_star_and_a_merged_file_of_two_voxel_sizes(tmp_path):
    pixels = write_picks(tmp_path / "p_relion4.star", _one_pick(), volume_shape_zyx=(40, 60, 100))
    row = starfile.read(pixels, always_dict=True)["particles"].iloc[0]
    assert (row["rlnCoordinateX"], row["rlnCoordinateY"], row["rlnCoordinateZ"]) == (10.0, 20.0, 3.0)
    assert row["rlnMicrographName"] == "TS_07.tomostar" and row["rlnTomoName"] == "TS_07"
    np.testing.assert_allclose(_xyz(read_picks_star(pixels)), [[10, 20, 3]])
    # one file, tomograms at 5 Å and 8 Å: each row decodes with its own optics group's pixel size
    other = _one_pick().assign(tomogram="TS_08", voxel_size_angstrom=8.0)
    merged = write_picks_star(tmp_path / "m.star", pd.concat([_one_pick(), other], ignore_index=True),
                              volume_shape_zyx=(40, 60, 100))  # fmt: skip
    back = read_picks_star(merged, volume_shape_zyx=(40, 60, 100))
    np.testing.assert_allclose(_xyz(back), [[10, 20, 3], [10, 20, 3]])
    assert list(back["tomogram"]) == ["TS_07", "TS_08"]


def test_copick_known_answer_and_schema(tmp_path):
    path = write_picks_copick(tmp_path / "p.json", _one_pick(), object_name="ribosome")
    doc = json.loads(path.read_text())
    assert doc["points"][0]["location"] == {"x": 50.0, "y": 100.0, "z": 15.0}
    assert doc["points"][0]["transformation_"] == np.eye(4).tolist()
    assert doc["points"][0]["score"] == 0.75
    assert (doc["pickable_object_name"], doc["user_id"], doc["session_id"]) == ("ribosome", "unpick", "0")
    assert (doc["run_name"], doc["voxel_spacing"], doc["unit"]) == ("TS_07", 5.0, "angstrom")
    models = pytest.importorskip("copick.models")
    model = models.CopickPicksFile.model_validate(doc)
    assert model.points[0].location.x == 50.0


def test_ndjson_known_answer(tmp_path):
    path = write_picks_ndjson(tmp_path / "p.ndjson", _one_pick())
    (line,) = path.read_text().splitlines()
    point = json.loads(line)
    assert point == {"type": "point", "location": {"x": 10.0, "y": 20.0, "z": 3.0}, "score": 0.75}


def test_star_reader_known_answer_centred(tmp_path):
    table = pd.DataFrame({"rlnTomoName": ["TS_07"], "rlnCenteredCoordinateXAngst": [-200.0],
                          "rlnCenteredCoordinateYAngst": [-50.0], "rlnCenteredCoordinateZAngst": [-85.0]})
    starfile.write({"particles": table}, tmp_path / "c.star")
    back = read_picks_star(tmp_path / "c.star", voxel_size_angstrom=5, volume_shape_zyx=(40, 60, 100))
    assert tuple(_xyz(back)[0]) == (10.0, 20.0, 3.0)


def test_star_reader_relion4_pixel_coordinates(tmp_path):
    table = pd.DataFrame({"rlnCoordinateX": [12.5, 1.0], "rlnCoordinateY": [3.25, 2.0], "rlnCoordinateZ": [7.0, 3.0],
                          "rlnClassNumber": [1, 2], "rlnLCCmax": [0.4, 0.3]})
    starfile.write(table, tmp_path / "r4.star")
    back = read_picks_star(tmp_path / "r4.star")
    np.testing.assert_array_equal(_xyz(back), [[12.5, 3.25, 7.0], [1.0, 2.0, 3.0]])
    assert list(back["class"]) == ["1", "2"]
    np.testing.assert_array_equal(back["score"], [0.4, 0.3])


def test_star_reader_multiblock_pixel_size_from_optics_and_origin_shift(tmp_path):
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnTomoTiltSeriesPixelSize": [4.0]})
    particles = pd.DataFrame({"rlnTomoName": ["a", "a"], "rlnCenteredCoordinateXAngst": [0.0, 40.0],
                              "rlnCenteredCoordinateYAngst": [0.0, -8.0], "rlnCenteredCoordinateZAngst": [4.0, 0.0],
                              "rlnOriginXAngst": [8.0, 0.0], "rlnOriginYAngst": [0.0, 0.0],
                              "rlnOriginZAngst": [0.0, -4.0]})
    starfile.write({"optics": optics, "particles": particles}, tmp_path / "m.star")
    back = read_picks_star(tmp_path / "m.star", volume_shape_zyx=(10, 20, 30))
    # centre (15, 10, 5); x = 0/4 + 15 - 8/4 = 13; row 2: x = 10 + 15, y = -2 + 10, z = 0 + 5 + 1
    np.testing.assert_array_equal(_xyz(back), [[13.0, 10.0, 6.0], [25.0, 8.0, 6.0]])
    # an explicit voxel size wins over the file's pixel size
    np.testing.assert_array_equal(_xyz(read_picks_star(tmp_path / "m.star", voxel_size_angstrom=8,
                                                       volume_shape_zyx=(10, 20, 30)))[0], [14.0, 10.0, 5.5])


def test_copick_reader_adds_transformation_shift(tmp_path):
    doc = {"pickable_object_name": "apo-ferritin", "user_id": "x", "session_id": "1", "voxel_spacing": 10.0,
           "points": [{"location": {"x": 100.0, "y": 50.0, "z": 20.0},
                       "transformation_": [[1, 0, 0, 10.0], [0, 1, 0, -5.0], [0, 0, 1, 0], [0, 0, 0, 1]]},
                      {"location": {"x": 5.0, "y": 0.0, "z": 15.0}}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    back = read_picks_copick(tmp_path / "c.json", voxel_size_angstrom=5.0)
    np.testing.assert_array_equal(_xyz(back), [[22.0, 9.0, 4.0], [1.0, 0.0, 3.0]])
    assert list(back["class"]) == ["apo-ferritin"] * 2
    np.testing.assert_array_equal(back["score"], [1.0, 1.0])


def test_ndjson_reader_skips_blank_lines(tmp_path):
    lines = ['{"type": "orientedPoint", "location": {"x": 1.5, "y": 2, "z": 3}}', "", "  ",
             '{"type": "point", "location": {"x": 4, "y": 5, "z": 6.25}}']
    (tmp_path / "p.ndjson").write_text("\n".join(lines) + "\n")
    back = read_picks_ndjson(tmp_path / "p.ndjson")
    np.testing.assert_array_equal(_xyz(back), [[1.5, 2, 3], [4, 5, 6.25]])
    assert "score" not in back.columns


def _polnet_csv(path):
    path.write_text(
        "x,y,z,x_angstrom,y_angstrom,z_angstrom,class,type,radius_angstrom\n"
        "128.34,257.92,89.45,1283.41,2579.25,894.48,4v4r,cytosolic,107.70\n"
        "187.92,296.66,116.62,1879.15,2966.64,1166.24,4v4r,cytosolic,107.70\n"
        "20.5,30.25,40.0,205.0,302.5,400.0,3j9i,membrane,75.00\n"
    )
    return path


def test_polnet_layout_csv(tmp_path):
    truth = read_truth(_polnet_csv(tmp_path / "tomo_particles.csv"), voxel_size_angstrom=10)
    np.testing.assert_array_equal(_xyz(truth)[2], [20.5, 30.25, 40.0])
    assert list(truth["class"]) == ["4v4r", "4v4r", "3j9i"]
    assert list(truth["type"]) == ["cytosolic", "cytosolic", "membrane"]
    np.testing.assert_array_equal(truth["radius_angstrom"], [107.7, 107.7, 75.0])


def test_truth_classes_are_selected_by_the_one_evaluate_filter(tmp_path):
    truth = read_truth(_polnet_csv(tmp_path / "t.csv"))
    np.testing.assert_array_equal(_xyz(select_classes(truth, ["3j9i"])), [[20.5, 30.25, 40.0]])
    assert select_classes(truth, "3j9i").equals(select_classes(truth, ["3j9i"]))
    assert select_classes(truth, ["3j9i", "4v4r"]).equals(truth)
    with pytest.raises(UnpickInputError, match="classes: 1abc not in the truth table; it has 3j9i, 4v4r"):
        select_classes(truth, ["1abc"])
    write_picks_ndjson(tmp_path / "p.ndjson", _picks(n=2))
    with pytest.raises(UnpickInputError, match="classes: the truth table has no class column"):
        select_classes(read_truth(tmp_path / "p.ndjson"), ["ribosome"])


def test_csv_angstrom_only_needs_voxel_size(tmp_path):
    (tmp_path / "a.csv").write_text("x_angstrom,y_angstrom,z_angstrom,class_name\n50,100,15,ribo\n")
    back = read_picks_csv(tmp_path / "a.csv", voxel_size_angstrom=5)
    np.testing.assert_array_equal(_xyz(back), [[10.0, 20.0, 3.0]])
    assert list(back["class"]) == ["ribo"]
    with pytest.raises(UnpickInputError, match=r"in Å only .* pass the voxel size"):
        read_picks_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("x_angstrom,y_angstrom,z_angstrom,voxel_size_angstrom\n50,100,15,5\n")
    np.testing.assert_array_equal(_xyz(read_picks_csv(tmp_path / "b.csv")), [[10.0, 20.0, 3.0]])


def test_csv_aliases_and_separators(tmp_path):
    (tmp_path / "a.csv").write_text("X;Coord_Y;z_coord;Type;Score\n1.5;2.5;3.5;ribo;0.9\n")
    back = read_picks_csv(tmp_path / "a.csv")
    np.testing.assert_array_equal(_xyz(back), [[1.5, 2.5, 3.5]])
    assert list(back["class"]) == ["ribo"] and list(back["score"]) == [0.9]
    (tmp_path / "b.txt").write_text("x y z\n1 2 3\n4.5   5 6\n")
    np.testing.assert_array_equal(_xyz(read_truth(tmp_path / "b.txt")), [[1, 2, 3], [4.5, 5, 6]])
    (tmp_path / "c.csv").write_text("pos_x\tpos_y\tpos_z\n7\t8\t9\n")
    np.testing.assert_array_equal(_xyz(read_picks_csv(tmp_path / "c.csv")), [[7, 8, 9]])


def test_csv_voxel_and_angstrom_mismatch_is_logged(tmp_path, caplog):
    (tmp_path / "m.csv").write_text("x,y,z,x_angstrom,y_angstrom,z_angstrom\n10,20,3,50,100,15\n")
    with caplog.at_level(logging.WARNING, logger="unpick.io._csv"):
        back = read_picks_csv(tmp_path / "m.csv", voxel_size_angstrom=10)
    np.testing.assert_array_equal(_xyz(back), [[10, 20, 3]])
    assert "do not match" in caplog.text


def test_copick_names_lose_underscores_with_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="unpick.io._json"):
        path = write_picks_copick(tmp_path / "p.json", _one_pick(), object_name="beta_amylase", user_id="me_too")
    doc = json.loads(path.read_text())
    assert (doc["pickable_object_name"], doc["user_id"]) == ("beta-amylase", "me-too")
    assert "'beta_amylase' contains characters copick refuses" in caplog.text


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("reader", [read_picks_csv, read_picks_star, read_picks_copick, read_picks_ndjson, read_truth])
def test_readers_missing_file(tmp_path, reader):
    with pytest.raises(UnpickInputError, match=r"gone\.\w+: .*not found; check the path"):
        reader(tmp_path / ("gone.json" if reader is read_truth else "gone.txt"))


def test_readers_directory(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(UnpickInputError, match="is a directory, expected a picks CSV file"):
        read_picks_csv(tmp_path / "d.csv")


def test_unparseable_files(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81garbage\x00")
    with pytest.raises(UnpickInputError, match="cannot parse as a CSV/TSV table"):
        read_picks_csv(tmp_path / "bin.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UnpickInputError, match="cannot parse as a CSV/TSV table"):
        read_picks_csv(tmp_path / "empty.csv")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UnpickInputError, match="cannot parse as JSON"):
        read_picks_copick(tmp_path / "bad.json", voxel_size_angstrom=1)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(UnpickInputError, match="expected a copick picks object with a 'points' list, got list"):
        read_picks_copick(tmp_path / "list.json", voxel_size_angstrom=1)
    (tmp_path / "bad.ndjson").write_text('{"location": {"x": 1, "y": 2, "z": 3}}\n{oops\n')
    with pytest.raises(UnpickInputError, match="line 2 is not JSON"):
        read_picks_ndjson(tmp_path / "bad.ndjson")
    (tmp_path / "bad.star").write_bytes(b"\x00\x01 not a star file\n")
    with pytest.raises(UnpickInputError, match="no STAR data blocks found"):
        read_picks_star(tmp_path / "bad.star")


def test_missing_coordinate_columns_are_listed(tmp_path):
    (tmp_path / "a.csv").write_text("x,y,name\n1,2,a\n")
    with pytest.raises(UnpickInputError, match="no coordinate columns.*found x, y, name"):
        read_picks_csv(tmp_path / "a.csv")
    starfile.write(pd.DataFrame({"rlnCoordinateX": [1.0], "rlnAngleRot": [0.0]}), tmp_path / "a.star")
    with pytest.raises(UnpickInputError, match="no block has coordinates.*found data_: rlnCoordinateX, rlnAngleRot"):
        read_picks_star(tmp_path / "a.star")
    (tmp_path / "a.ndjson").write_text('{"type": "point", "position": [1, 2, 3]}\n')
    with pytest.raises(UnpickInputError, match=r"line 1 has no location \{x, y, z\}; found \['position', 'type'\]"):
        read_picks_ndjson(tmp_path / "a.ndjson")
    (tmp_path / "a.json").write_text(json.dumps({"points": [{"location": {"x": 1, "y": 2}}], "voxel_spacing": 1}))
    with pytest.raises(UnpickInputError, match=r"point 0 has no location \{x, y, z\}; found \['x', 'y'\]"):
        read_picks_copick(tmp_path / "a.json")


def test_non_numeric_coordinates(tmp_path):
    (tmp_path / "a.csv").write_text("x,y,z\n1,2,3\n4,five,6\n")
    with pytest.raises(UnpickInputError, match="coordinate 'y' of row 1 is 'five', expected a finite number"):
        read_picks_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("x,y,z\n1,2,\n")
    with pytest.raises(UnpickInputError, match="coordinate 'z' of row 0"):
        read_picks_csv(tmp_path / "b.csv")
    (tmp_path / "c.ndjson").write_text('{"location": {"x": "a", "y": 2, "z": 3}}\n')
    with pytest.raises(UnpickInputError, match="line 1 location .* is not numeric"):
        read_picks_ndjson(tmp_path / "c.ndjson")


def test_star_centred_needs_shape_and_voxel_size(tmp_path):
    path = write_picks_star(tmp_path / "p.star", _picks(n=3), volume_shape_zyx=SHAPE)
    with pytest.raises(UnpickInputError, match="need the tomogram size; pass volume_shape_zyx"):
        read_picks_star(path, voxel_size_angstrom=VOXEL)
    bare = tmp_path / "bare.star"  # a STAR file without the optics block unpick writes
    starfile.write({"particles": starfile.read(path, always_dict=True)["particles"].drop(columns="rlnOpticsGroup")}, bare)
    with pytest.raises(UnpickInputError, match=r"records no pixel size .* pass voxel_size_angstrom \(--voxel-size\)"):
        read_picks_star(bare, volume_shape_zyx=SHAPE)
    with pytest.raises(UnpickInputError, match="volume_shape_zyx: expected three positive integers"):
        read_picks_star(path, voxel_size_angstrom=VOXEL, volume_shape_zyx=(10, 0, 10))
    with pytest.raises(UnpickInputError, match="voxel_size_angstrom: expected a positive number"):
        read_picks_star(path, voxel_size_angstrom=-1, volume_shape_zyx=SHAPE)


def test_copick_needs_a_voxel_size_and_angstrom(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"points": [{"location": {"x": 1, "y": 2, "z": 3}}]}))
    with pytest.raises(UnpickInputError, match=r"no voxel_spacing in the file; pass voxel_size_angstrom"):
        read_picks_copick(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"unit": "nm", "points": []}))
    with pytest.raises(UnpickInputError, match="copick unit 'nm' is not supported"):
        read_picks_copick(tmp_path / "b.json", voxel_size_angstrom=1)


def test_writer_input_checks(tmp_path):
    with pytest.raises(UnpickInputError, match="expected a pandas DataFrame"):
        write_picks_csv(tmp_path / "a.csv", np.zeros((3, 3)))
    with pytest.raises(UnpickInputError, match=r"missing column\(s\) voxel_size_angstrom"):
        write_picks_csv(tmp_path / "a.csv", pd.DataFrame({"x": [1.0], "y": [1.0], "z": [1.0]}))
    mixed = pd.concat([_picks(n=2, voxel=5.0), _picks(n=2, voxel=10.0)], ignore_index=True)
    with pytest.raises(UnpickInputError, match="holds one voxel size, got several"):
        write_picks_copick(tmp_path / "a.json", mixed, object_name="x")
    two = pd.concat([_picks(n=2, tomogram="rec_A"), _picks(n=2, tomogram="B")], ignore_index=True)
    with pytest.raises(UnpickInputError, match="belongs to one run, got tomograms A, B"):
        write_picks_copick(tmp_path / "a.json", two, object_name="x")
    with pytest.raises(UnpickInputError, match="volume_shape_zyx: expected three positive integers"):
        write_picks_star(tmp_path / "a.star", _picks(), volume_shape_zyx=(10, 10))
    with pytest.raises(UnpickInputError, match=r"STAR output needs the tomogram size"):
        write_picks(tmp_path / "a.star", _picks())
    with pytest.raises(UnpickInputError, match=r"unknown picks format '\.xml'; expected one of .csv, .tsv, .star"):
        write_picks(tmp_path / "a.xml", _picks())
    with pytest.raises(UnpickInputError, match=r"unknown ground-truth format '\.xml'"):
        read_truth(tmp_path / "a.xml")
    assert os.listdir(tmp_path) == []


def test_star_writes_multiple_tomograms(tmp_path):
    picks = pd.concat([_picks(n=2, tomogram="rec_A"), _picks(n=3, tomogram="B")], ignore_index=True)
    back = read_picks_star(write_picks_star(tmp_path / "p.star", picks, volume_shape_zyx=SHAPE),
                           voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE)
    assert list(back["tomogram"]) == ["A", "A", "B", "B", "B"]


def test_dynamo_table_known_answer_and_round_trip(tmp_path):
    import dynamotable

    path = write_picks(tmp_path / "p.tbl", _one_pick(), volume_shape_zyx=(40, 60, 100))
    row = dynamotable.read(str(path)).iloc[0]
    # Dynamo pixel centres are semi-integers from the corner of pixel [1, 1, 1]: unpick voxel 10 is at 10.5
    assert (row["x"], row["y"], row["z"], row["cc"], row["apix"]) == (10.5, 20.5, 3.5, 0.75, 5.0)
    back = read_truth(path)
    np.testing.assert_allclose(_xyz(back), [[10, 20, 3]])
    assert back["score"].tolist() == [0.75]
    shifted = dynamotable.read(str(path)).assign(dx=1.25)  # refined shifts add to the position
    dynamotable.write(shifted, str(tmp_path / "s.tbl"))
    np.testing.assert_allclose(_xyz(read_truth(tmp_path / "s.tbl")), [[11.25, 20, 3]])


def test_imod_point_list_known_answer_and_round_trip(tmp_path):
    path = write_picks(tmp_path / "p_imod.txt", _one_pick(), volume_shape_zyx=(40, 60, 100))
    # IMOD: x and y from the pixel corner (centre of pixel 0 at 0.5), z the section number
    assert path.read_text() == "10.500 20.500 3.000\n"
    np.testing.assert_allclose(_xyz(read_truth(path)), [[10, 20, 3]])
    objects = tmp_path / "objects.txt"  # model2point -object: object contour x y z
    objects.write_text("1 1 10.5 20.5 3.0\n1 2 11.5 21.5 4.0\n")
    np.testing.assert_allclose(_xyz(read_truth(objects)), [[10, 20, 3], [11, 21, 4]])
    (tmp_path / "cryolo.coords").write_text("10 20 3\n11.5 21 4\n")  # voxel centres at whole numbers
    np.testing.assert_allclose(_xyz(read_truth(tmp_path / "cryolo.coords")), [[10, 20, 3], [11.5, 21, 4]])
    (tmp_path / "bad.txt").write_text("1 2 3\n1 2 x\n")
    with pytest.raises(UnpickInputError, match=r"bad.txt: line 2 is '1 2 x'; an IMOD point list has 3 to 5 numbers"):
        read_truth(tmp_path / "bad.txt")


def test_imod_model_round_trip_through_imodmodel(tmp_path):
    imodmodel = pytest.importorskip("imodmodel")
    picks = _picks(n=4)
    path = write_picks(tmp_path / "p.mod", picks, volume_shape_zyx=SHAPE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # imodmodel 0.1 on pydantic 2
        raw = imodmodel.read(path)
    np.testing.assert_allclose(raw[["x", "y", "z"]].to_numpy(), _xyz(picks) + [0.5, 0.5, 0.0], atol=1e-4)
    np.testing.assert_allclose(_xyz(read_truth(path)), _xyz(picks), atol=1e-4)
    two = pd.DataFrame({"object_id": [0, 1], "contour_id": [0, 0], "x": [10.5, 30.5], "y": [20.5, 5.5], "z": [3.0, 7.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        imodmodel.write(two, tmp_path / "two.mod")
    back = read_truth(tmp_path / "two.mod")
    np.testing.assert_allclose(_xyz(back), [[10, 20, 3], [30, 5, 7]], atol=1e-4)
    assert list(back["class"]) == ["0", "1"]
