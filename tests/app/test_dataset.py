"""Clusters page, export section: make a train / val / test split, see its counts, export with the split and card."""

from __future__ import annotations

from revsearch import exclusions, splits
from revsearch.collection import Collection
from tests.app.conftest import errors, problems, texts


def open_page(app):
    at = app.switch_page("app_pages/clusters.py").run()
    assert not problems(at) and not errors(at)
    return at


def split_table(at):
    """The split's counts (the one table with a "class" column), or None."""
    return next((d.value for d in at.dataframe if "class" in d.value.columns), None)


def test_make_a_split_shows_its_counts_and_offers_the_card(app, data_dir):
    at = open_page(app)
    assert "No train / val / test split yet" in texts(at)
    assert split_table(at) is None
    at.number_input(key="split_train").set_value(50)
    at.number_input(key="split_val").set_value(0)
    at.number_input(key="split_test").set_value(50)
    at.number_input(key="split_seed").set_value(3)
    at = [b for b in at.button if b.label == "Make the split"][0].click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        made = splits.settings(coll)
        where = splits.split_of(coll)
        ids = [r.id for r in coll.rows("indexed")]
        assert made is not None and made.ratios == (0.5, 0.0, 0.5) and made.seed == 3
        assert set(where) == set(ids) and set(where.values()) == {"train", "test"}  # all 6 demo photos, none in val
        exclusions.exclude(coll, ids[:1], "blurry")
    at = open_page(app)  # a rerun: the table shows the split, the excluded image is counted
    table = split_table(at)
    assert table.iloc[-1]["class"] == "all" and table.iloc[-1]["total"] == 5
    assert int(table.iloc[-1]["train"]) + int(table.iloc[-1]["test"]) == 5
    assert "Split train 50 % / val 0 % / test 50 % (seed 3)" in texts(at)
    assert "1 image is excluded" in texts(at)
    at = [b for b in at.button if b.label == "Re-split everything"][0].click().run()
    assert "Tick “Assign every image anew”" in texts(at)  # nothing re-split without saying so
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert splits.split_of(coll) == where
    at.checkbox(key="split_again").check()
    at.number_input(key="split_seed").set_value(4)
    at = [b for b in at.button if b.label == "Re-split everything"][0].click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert splits.settings(coll).seed == 4 and len(splits.split_of(coll)) == 5  # the excluded one has none
    assert "Dataset card (.md)" in [b.label for b in at.get("download_button")]
