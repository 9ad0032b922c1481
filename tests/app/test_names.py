"""Names the user gives (files, methods and so sets, subsets) are shown as written, never read as markdown.

Streamlit reads markdown in alerts, captions, slider labels and the like: ``:red[x]`` would be red,
``$$x$$`` typeset by KaTeX and ``[link](http://e.x)`` a link. AppTest gives each element's markdown
source, so the checks here are on that source: the name appears only with its markdown characters
escaped, and unescaping gives the name back.
"""

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
METHOD = ":red[x] $$x$$ [link](http://e.x) **bold**"
FILE = ":red[f] $$f$$ [link](e.x).csv"  # a file name holds no '/'


def shown_as_written(source: str, name: str) -> bool:
    """``name`` is in the markdown ``source`` only escaped: unescaped, it reads as the name."""
    return name not in source and name in re.sub(r"\\(.)", r"\1", source)


def values(elements) -> list[str]:
    return [element.value for element in elements]


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def files():
    """A real file and a synthetic one of demo texts (their vectors ship with the demo: nothing is embedded).

    The synthetic file copies ten real texts, so a collapse-risk rule fires for it on the comparison page.
    """
    from analysis.demo import load_demo

    demo = load_demo(synthetic=False)
    real = demo.groupby("label").head(13)[["text", "label"]]
    rest = demo.drop(real.index).groupby("label").head(3)[["text", "label"]]
    synthetic = pd.concat([rest, real.head(10)], ignore_index=True)
    return real.to_csv(index=False).encode(), synthetic.to_csv(index=False).encode()


def test_file_and_set_names_are_plain_text_on_the_data_mixture_and_comparison_pages(files):
    real, synthetic = files
    at = ok(AppTest.from_file(APP, default_timeout=600).run())
    at.file_uploader(key="upload_file").set_value((FILE, real, "text/csv")).run()
    at.radio(key="upload_mode").set_value("Replace the current dataset").run()
    ok(at.button(key="upload_add").click().run())
    assert any(shown_as_written(value, FILE) for value in values(at.success)), values(at.success)

    at.radio(key="upload_role").set_value("synthetic").run()
    at.selectbox(key="upload_method").set_value("another method…").run()
    at.text_input(key="upload_method_name").set_value(METHOD).run()
    at.file_uploader(key="upload_file").set_value(("synthetic.csv", synthetic, "text/csv")).run()
    at.radio(key="upload_mode").set_value("Add to the current dataset").run()
    ok(at.button(key="upload_add").click().run())
    assert not at.error, values(at.error)

    ok(at.switch_page("pages/mixture.py").run())
    assert not at.error, values(at.error)
    slider = at.slider(key=f"mix_w:{METHOD}")
    assert shown_as_written(slider.label, METHOD), slider.label
    assert any(shown_as_written(caption, METHOD) for caption in values(at.caption)), values(at.caption)

    ok(at.switch_page("pages/comparison.py").run())
    boxes = values(at.warning) + values(at.error)
    assert any(shown_as_written(box, METHOD) for box in boxes), boxes
    for source in [*values(at.markdown), *values(at.caption), *boxes, *values(at.success), *values(at.info)]:
        assert METHOD not in source and ":red[x]" not in source and "$$x$$" not in source, source


def test_an_error_naming_a_file_shows_the_name_as_written():
    at = ok(AppTest.from_file(APP, default_timeout=120).run())
    name = "$$e$$ :red[e] [link](e.x).jsonl"
    at.file_uploader(key="upload_file").set_value(
        (name, b'{"text": "fine"}\n{"text": oops}\n', "application/json")
    ).run()
    ok(at)
    assert len(at.error) == 1 and "malformed JSON" in at.error[0].value
    assert shown_as_written(at.error[0].value, name), at.error[0].value
