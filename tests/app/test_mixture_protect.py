"""Protect a named gap in the Mixture designer (issue 33, part 2): pick the gap, move the slider, see its share rise.

The dataset is the small one of ``test_coverage_pages`` (600 real texts on six topics, 300 synthetic on two,
sports and tech), embedded with its topic vectors, so no model loads: health, travel, food and music are
named gaps of the synthetic set.
"""

import re

from streamlit.testing.v1 import AppTest


def ok(at: AppTest) -> AppTest:
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def test_protecting_a_gap_raises_its_share_of_the_mixture(topic_app):
    at = topic_app()
    ok(at.switch_page("pages/mixture.py").run())
    at.number_input(key="mix_size").set_value(300)
    ok(at.slider(key="mix_real").set_value(30).run())
    assert "Protected gaps" not in [s.value for s in at.subheader]  # nothing protected by default

    ok(at.toggle(key="mix_protect_on").set_value(True).run())
    choice = at.multiselect(key="mix_protect")
    assert choice.value == []  # default: none
    labels = {region: choice.format_func(region) for region in choice.options}
    health = next(region for region, label in labels.items() if label.startswith("health"))
    assert " of real, " in labels[health] and "of llm" in labels[health]
    ok(choice.set_value([health]).run())

    def share() -> float:
        metric = next(m for m in at.metric if m.label.startswith("health"))
        return float(metric.value.rstrip(" %"))

    assert "Protected gaps" in [s.value for s in at.subheader]
    before = share()
    ok(at.slider(key="mix_keep").set_value(50).run())
    middle = share()
    ok(at.slider(key="mix_keep").set_value(100).run())
    after = share()
    assert before < middle < after and after > 2 * before
    words = " ".join(m.value for m in at.markdown)
    assert "of real, " in words and "of the mixture" in words and "without protection" in words
    assert "300 rows:" in " ".join(c.value for c in at.caption)  # the size stays; synthetic rows made room


def test_one_click_keeps_the_least_real_data_that_gives_the_gap_its_real_share(topic_app):
    at = topic_app()
    ok(at.switch_page("pages/mixture.py").run())
    at.number_input(key="mix_size").set_value(300)
    ok(at.slider(key="mix_real").set_value(30).run())
    ok(at.toggle(key="mix_protect_on").set_value(True).run())
    choice = at.multiselect(key="mix_protect")
    health = next(region for region in choice.options if choice.format_func(region).startswith("health"))
    ok(choice.set_value([health]).run())
    button = at.button(key="mix_keep_fill")
    assert "each holds its real share" in button.label
    ok(button.click().run())
    kept = at.slider(key="mix_keep").value
    assert 0 < kept < 100 and button.label.startswith(f"Keep {kept}%")
    said = next(m.value for m in at.markdown if m.value.startswith("- health"))
    real, mixture = (float(re.search(rf"([0-9.]+)% of {what}", said).group(1)) for what in ("real", "the mixture"))
    assert mixture >= real  # the gap holds its real share of the mixture (both rounded alike)
