"""The Lesson page (issue 20): five steps, each one control, one chart, what to notice and a question."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis.views.lesson import LARGE_TYPE_CSS, STEPS

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_lesson() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.switch_page("pages/lesson.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_ok(at: AppTest, number: int) -> None:
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    step = STEPS[number]
    assert at.header[0].value == step.title
    assert len(at.get("vega_lite_chart")) == 1  # one chart
    assert step.notice in at.info[0].value  # one sentence of what to notice
    assert step.question in "\n".join(m.value for m in at.markdown)  # and a question to try
    controls = [w for w in at.slider if w.key == f"lesson_{step.key}"] + [
        w for w in at.select_slider if w.key == f"lesson_{step.key}"
    ]
    assert len(controls) == 1  # one action


def test_every_step_renders_and_next_and_previous_move_through_them():
    at = open_lesson()
    assert at.title[0].value.startswith("Lesson")
    assert at.button(key="lesson_previous").disabled
    shown_ok(at, 0)
    for number in range(1, len(STEPS)):
        at = at.button(key="lesson_next").click().run()
        shown_ok(at, number)
    assert at.button(key="lesson_next").disabled
    # step 5: llm (written from real text) misses no region; its third generation does, said in shares
    assert "No named gap for llm" in "\n".join(c.value for c in at.caption)
    at = at.select_slider(key="lesson_map").set_value("llm g3").run()
    shown_ok(at, len(STEPS) - 1)
    misses = [m.value for m in at.markdown if "misses:" in m.value]
    assert misses and "of real" in misses[0] and "of llm g3" in misses[0]
    at = at.button(key="lesson_previous").click().run()
    shown_ok(at, len(STEPS) - 2)


def test_a_step_keeps_its_place_and_its_slider_across_reruns():
    at = open_lesson()
    at = at.button(key="lesson_next").click().run()
    at = at.slider(key="lesson_accumulate").set_value(20).run()
    shown_ok(at, 1)
    at = at.run()  # a plain rerun (any widget elsewhere) stays on step 2 with its value
    shown_ok(at, 1)
    assert at.slider(key="lesson_accumulate").value == 20
    curves = at.get("vega_lite_chart")[0]
    assert curves is not None


def test_large_type_puts_the_fixed_style_block_on_the_page():
    at = open_lesson()
    assert not any("<style>" in m.value for m in at.markdown)
    at = at.toggle(key="lesson_large").set_value(True).run()
    styles = [m.value for m in at.markdown if "<style>" in m.value]
    assert styles == [LARGE_TYPE_CSS] and "font-size: 1.6rem" in styles[0]
    shown_ok(at, 0)
