"""Reading check-in logs from the two file layouts: detection, parsing, errors, and the real shared files."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from django.conf import settings

from ml.datasets import DatasetLayoutError, checkin_log_read
from ml.datasets.checkins import LAYOUT_LBSN, LAYOUT_NYC
from tests.ml.checkin_builders import NYC_HEADER, tiny_city, write_lbsn, write_nyc_csv


def _write(path, lines: list[str]):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_nyc_csv_is_recognised_from_the_file_and_from_its_folder_one_level_up(tmp_path):
    city = tiny_city()
    csv_path = write_nyc_csv(city, tmp_path / "nyc" / "derived" / "checkins.csv")
    (tmp_path / "nyc" / "other.csv").write_text("user_id,POI_id\n1,abc\n")  # another CSV: not the layout
    from_file = checkin_log_read(csv_path)
    from_folder = checkin_log_read(tmp_path / "nyc")
    assert from_file.layout == from_folder.layout == LAYOUT_NYC
    assert np.array_equal(from_file.times, from_folder.times)
    assert from_file.times.shape[0] == len(city.rows)
    assert (from_file.n_users, from_file.n_places) == (48, 24)
    assert from_file.friendships is None


def test_nyc_csv_parsing_sorts_by_time_and_keeps_ids_coordinates_and_category_names(tmp_path):
    path = _write(
        tmp_path / "log.csv",
        [
            ",".join(NYC_HEADER),
            "7,30,2012-04-05T10:00:00Z,40.7,-74.0,v30,id-a,Cafe",
            "2,30,2012-04-03T18:00:00Z,40.7,-74.0,v30,id-a,Cafe",
            "7,4,2012-04-04T09:30:00Z,40.8,-73.9,,,",
            "2,11,2012-04-04T09:30:00Z,40.6,-74.1,v11,id-b,Bar",
            "10,11,2012-04-06T00:00:00Z,40.6,-74.1,v11,id-c,Bar",
        ],
    )
    log = checkin_log_read(path, name="mini")
    assert log.name == "mini"
    # Dense ids follow the numeric order of the original ids: users 2, 7, 10; places 4, 11, 30.
    assert log.user_keys.tolist() == ["2", "7", "10"] and log.place_keys.tolist() == ["4", "11", "30"]
    assert log.users.tolist() == [0, 0, 1, 1, 2] and log.places.tolist() == [2, 1, 0, 2, 1]
    assert log.times[0] == datetime(2012, 4, 3, 18, tzinfo=UTC).timestamp()
    assert np.all(np.diff(log.times) >= 0)
    assert log.place_latitude.tolist() == [40.8, 40.6, 40.7]
    # Categories by name (Foursquare gives one name several ids); place 4 has none.
    assert log.category_keys.tolist() == ["Bar", "Cafe"]
    assert log.place_category_pairs.tolist() == [[1, 0], [2, 1]]


def test_lbsn_layout_is_found_by_suffix_whatever_the_prefix(tmp_path):
    city = tiny_city()
    folder = write_lbsn(city, tmp_path / "Gowalla_7", prefix="Gowalla")
    from_folder = checkin_log_read(folder)
    from_file = checkin_log_read(folder / "Gowalla_check_ins.txt")
    assert from_folder.layout == from_file.layout == LAYOUT_LBSN
    assert from_folder.name == "gowalla-7"
    assert np.array_equal(from_folder.users, from_file.users)
    assert from_folder.times.shape[0] == len(city.rows)
    # Every categorised place got two category ids (multi-label).
    per_place = np.bincount(from_folder.place_category_pairs[:, 0], minlength=from_folder.n_places)
    assert set(per_place.tolist()) == {0, 2}
    assert from_folder.friendships.shape == (len(city.friendships), 2)


def test_lbsn_parsing_makes_friendships_undirected_and_drops_people_without_check_ins(tmp_path):
    folder = tmp_path / "x"
    _write(folder / "X_check_ins.txt", ["5\t1\t1300000000.0", "3\t2\t1200000000.0", "5\t2\t1250000000.0"])
    _write(folder / "X_poi_coos.txt", ["1\t36.1\t-115.1", "2\t36.2\t-115.2", "9\t0\t0"])
    _write(folder / "X_social_relations.txt", ["5\t3", "3\t5", "5\t99", "3\t3"])
    log = checkin_log_read(folder)
    assert log.user_keys.tolist() == ["3", "5"] and log.places.tolist() == [1, 1, 0]
    assert log.times.tolist() == [1200000000.0, 1250000000.0, 1300000000.0]
    assert log.friendships.tolist() == [[0, 1]]  # one undirected pair; 99 has no check-in; no self-loop
    assert log.place_category_pairs is None and log.category_keys is None
    assert log.n_places == 2  # a place nobody checked in at is not part of the log


def test_lbsn_without_optional_files_has_no_categories_or_friendships(tmp_path):
    log = checkin_log_read(write_lbsn(tiny_city(), tmp_path / "plain", optional=False))
    assert log.place_category_pairs is None and log.friendships is None


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root, "holds no check-in data set"),
        (lambda root: _write(root / "notes.txt", ["hello"]), "is neither"),
        (lambda root: _write(root / "bad.csv", ["user_id,place"]), "is neither"),
        (lambda root: root / "missing", "does not exist"),
    ],
)
def test_neither_layout_is_a_clear_error_naming_the_path(tmp_path, setup, message):
    path = setup(tmp_path)
    with pytest.raises(DatasetLayoutError, match=message) as caught:
        checkin_log_read(path)
    assert str(path) in str(caught.value)


def test_broken_lbsn_sets_are_refused_with_the_file_named(tmp_path):
    folder = tmp_path / "y"
    _write(folder / "Y_check_ins.txt", ["1\t1\t1300000000.0"])
    with pytest.raises(DatasetLayoutError, match="Y_poi_coos.txt"):
        checkin_log_read(folder)
    _write(folder / "Y_poi_coos.txt", ["2\t1.0\t1.0"])
    with pytest.raises(DatasetLayoutError, match="no coordinates"):
        checkin_log_read(folder)
    _write(folder / "Y_poi_coos.txt", ["1\tnorth\t1.0"])
    with pytest.raises(DatasetLayoutError, match="Y_poi_coos.txt:1"):
        checkin_log_read(folder)


def test_a_folder_with_both_layouts_or_two_csvs_is_ambiguous(tmp_path):
    city = tiny_city()
    write_nyc_csv(city, tmp_path / "a.csv")
    write_nyc_csv(city, tmp_path / "sub" / "b.csv")
    with pytest.raises(DatasetLayoutError, match="several NYC-style CSVs"):
        checkin_log_read(tmp_path)
    write_lbsn(city, tmp_path)
    with pytest.raises(DatasetLayoutError, match="both an LBSN file set and NYC-style CSVs"):
        checkin_log_read(tmp_path)


def test_the_real_shared_data_sets_read_with_their_documented_sizes():
    nyc = checkin_log_read(settings.VICINO_DATA_DIR / "foursquare-nyc")
    assert (nyc.times.shape[0], nyc.n_users, nyc.n_places, nyc.n_categories) == (147_938, 1_083, 5_135, 192)
    assert nyc.summary()["first"].startswith("2012-04-03T18:00")
    yelp = checkin_log_read(settings.VICINO_DATA_DIR / "lbsn-yelp-liu2017" / "Yelp_3")
    assert (yelp.times.shape[0], yelp.n_users, yelp.n_places, yelp.n_categories) == (
        35_571,
        1_000,
        5_255,
        425,
    )
    assert yelp.friendships.shape[0] == 5_666 and yelp.name == "yelp-3"
