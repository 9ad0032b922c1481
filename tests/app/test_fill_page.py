"""Fill a gap from Tail coverage (issue 33): the button, the progress bar, the before/after numbers, the new set.

The dataset is the small one of ``test_coverage_pages`` (600 real texts on six topics, 300 synthetic on two);
the embedding model is replaced by its topic vectors and the language model by a scripted backend that
answers on the topic of its prompt, so no model loads.
"""

import numpy as np

from analysis.generate.backends import Completion
from tests.app.test_coverage_pages import TOPICS, topic_vectors


def vectors(texts) -> np.ndarray:
    """:func:`topic_vectors`, with the filled texts moved off their topic's disc by a seeded offset in the other
    topics' planes: still nearest their own topic's real texts, but no near-copy of one (cosine below 0.95)."""
    texts = list(texts)
    out = topic_vectors(texts)
    for row, text in enumerate(texts):
        if " filled " in text:
            topic = TOPICS.index(text.split()[0])
            offset = np.random.default_rng(row).normal(size=18)
            offset[[topic, 6 + 2 * topic, 7 + 2 * topic]] = 0
            out[row] += 0.5 * offset / np.linalg.norm(offset)
    return out


class TopicBackend:
    """Answers with a new text on the topic (first word) of the last real text in its prompt."""

    name, model = "scripted", "none"

    def complete_many(self, requests):
        answers = []
        for request in requests:
            shown = [m["content"] for m in request.messages if m["role"] == "assistant"]
            text = shown[-1] if shown else request.messages[-1]["content"].split("\n\n", 1)[-1]
            answers.append(Completion(f"{text.split()[0]} filled sample number {request.seed}"))
        return answers


def test_fill_this_gap_adds_samples_and_shows_before_and_after(topic_app, monkeypatch):
    monkeypatch.setattr("analysis.generate.get_backend", lambda backend=None, **_: TopicBackend())
    at = topic_app(vectors)  # the small dataset of test_coverage_pages, loaded on the Data page
    at.switch_page("pages/tail_coverage.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    gap_choice = at.selectbox(key="tail_fill_gap")
    assert len(gap_choice.options) >= 4  # health, travel, food, music are missing from the set
    at.number_input(key="tail_fill_n").set_value(5)
    at.button(key="tail_fill").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    result = at.session_state["tail_fill_result"]
    assert "5 of 5 kept" in result["sentence"] and "5 of 5 kept landed in the region" in result["sentence"]
    before, after = result["table"]
    assert after["samples in region"] >= before["samples in region"] + 5
    assert any("kept" in s.value for s in at.success)
    points = result["points"]  # the map of the fill: the region, the set before, the new samples placed on the map
    assert points["kind"].count("new") == 5 and points["kind"].count("real in the region") > 0
    assert any("Where the new samples landed" in chart.proto.spec for chart in at.get("vega_lite_chart"))
    at.switch_page("app.py").run()
    assert {m.label: m.value for m in at.metric}["samples"] == "905"
