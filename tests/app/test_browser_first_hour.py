"""The first hour with your own files, and a map you can question (issue 32), in headless Chromium on the real app.

Loading: three files added one after another (no tab jump, nothing lost), several files in one Load, a replace
undone, a dataset without real samples on every page. The map (on the demo): a click on a set, a box's per-set shares,
a lasso's (drawn with the mouse on the Plotly map), a semantic search and the selection's export in each format, and
the README's two screenshots of the map. Small data files are written to ``tmp_path``; every check waits for what a
user would see, never for a time. The server and the browser are the shared ones of tests/app/conftest.py (which
closes each test's pages): each test works in a shared workspace of its own name, so none sees another's data.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.corpus import LoadReport, samples_from_frame
from analysis.workspace import Workspaces
from tests.app.test_browser import DOCS, assert_no_error_shown, open_page, settle

pytestmark = pytest.mark.browser

WAIT = 300_000  # ms: a first run on a busy 2-core machine embeds, projects and caches
REAL = [f"A real sample about rivers and their deltas, number {i}." for i in range(6)]
LLM = [f"An llm sample about mountains and their passes, number {i}." for i in range(4)]
PARAPHRASE = [f"A paraphrased sample about lakes and their shores, number {i}." for i in range(3)]
#: The pages that analyse the data (the Data page and Generate work without real samples).
ANALYSIS_PAGES = ["embedding_map", "tail_coverage", "comparison", "ab_test", "monitor", "mixture", "simulator"]


def write_csv(folder: Path, name: str, texts: list[str]) -> Path:
    path = folder / name
    pd.DataFrame({"text": texts}).to_csv(path, index=False)
    return path


def open_data_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.set_default_timeout(WAIT)  # clicks wait for their element as long as the rest
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("What is in the dataset").first.wait_for(timeout=WAIT)
    settle(page)
    return page


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    settle(page)


def wait_for_samples(page, count: str) -> None:
    """Wait until the page counts ``count`` samples and its run is over (the count is drawn before the tabs below it
    are, so a tab read as soon as the count shows can be one the run has not drawn yet)."""
    page.wait_for_function(
        "n => document.querySelector('[data-testid=\"stMetricValue\"]')?.innerText === n", arg=count, timeout=WAIT
    )
    settle(page)


def tab_is_open(page, name: str) -> bool:
    return page.get_by_role("tab", name=name).get_attribute("aria-selected") == "true"


def uploader(page, label: str):
    return page.locator('[data-testid="stFileUploader"]', has_text=label).locator('input[type="file"]')


def choose_file(page, path: Path, rows: int):
    """Choose a file in the Upload tab once the page's run is over, and return its Load button once it shows. A
    load's own rerun gives the tab a fresh uploader; a file chosen while that rerun was still drawing went to the
    uploader it replaced, so an empty uploader after a while means: choose the file again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    load = page.get_by_role("button", name=f"Load {rows:,} samples")
    for _ in range(3):
        settle(page)
        uploader(page, "A file of samples").set_input_files(str(path))
        try:
            load.wait_for(timeout=60_000)
            return load
        except PlaywrightTimeout:
            continue
    load.wait_for(timeout=WAIT)
    return load


def choose_and_load(page, path: Path, rows: int) -> None:
    """Choose a file in the Upload tab, wait for its Load button and click it (the caller waits for the counts: a
    one-off message can be lost to a rerun that interrupts the one showing it)."""
    load = choose_file(page, path, rows)
    settle(page)
    load.click()


def test_three_files_added_in_a_row_keep_the_tab_and_every_sample(served, browser, tmp_path):
    page = open_data_page(browser, f"{served[0]}/?workspace=in-a-row")
    open_tab(page, "Upload a file")
    total = 0
    for name, texts in (("real.csv", REAL), ("llm.csv", LLM), ("paraphrase.csv", PARAPHRASE)):
        choose_and_load(page, write_csv(tmp_path, name, texts), len(texts))
        total += len(texts)
        wait_for_samples(page, f"{total:,}")  # the real file replaces the demo; the next two are added to it
        assert tab_is_open(page, "Upload a file"), f"the tabs jumped after loading {name}"
        assert_no_error_shown(page)
    samples, _ = Workspaces(served[2].parent / "workspace").shared("in-a-row").load()
    assert samples.groupby("method").size().to_dict() == {"llm": 4, "paraphrase": 3, "real": 6}  # no default method


def test_several_files_chosen_at_once_load_with_one_click(served, browser, tmp_path):
    page = open_data_page(browser, f"{served[0]}/?workspace=at-once")
    open_tab(page, "Several files")
    files = [write_csv(tmp_path, n, t) for n, t in (("real.csv", REAL), ("llm.csv", LLM), ("para.csv", PARAPHRASE))]
    uploader(page, "Several files of samples").set_input_files([str(f) for f in files])
    load = page.get_by_role("button", name="Load 3 files (13 rows)")
    load.wait_for(timeout=WAIT)
    settle(page)
    load.click()
    wait_for_samples(page, "13")
    assert tab_is_open(page, "Several files")
    assert_no_error_shown(page)


def test_an_explicit_replace_is_undone_with_one_click(served, browser, tmp_path):
    page = open_data_page(browser, f"{served[0]}/?workspace=replace-undo")
    open_tab(page, "Upload a file")
    choose_and_load(page, write_csv(tmp_path, "real.csv", REAL), len(REAL))
    wait_for_samples(page, "6")
    choose_file(page, write_csv(tmp_path, "para.csv", PARAPHRASE), len(PARAPHRASE))
    page.get_by_text("Replace the current dataset").click()
    page.get_by_text("Yes, replace the 6 samples now loaded").click()
    load = page.get_by_role("button", name="Load 3 samples")
    page.wait_for_function("b => !b.disabled", arg=load.element_handle(), timeout=WAIT)
    load.click()
    wait_for_samples(page, "3")
    page.get_by_text("no real samples").first.wait_for(timeout=WAIT)  # the page says what to load
    page.get_by_role("button", name="Undo last change").click()
    wait_for_samples(page, "6")
    assert_no_error_shown(page)


def test_a_dataset_without_real_samples_is_a_clear_page_everywhere(served, browser):
    synthetic, report = samples_from_frame(
        pd.DataFrame({"text": LLM}), name="llm.csv", source="synthetic", method="llm"
    )
    part = {"name": "llm.csv", "source": "synthetic", "method": "llm", "rows": 4, "report": report.to_dict()}
    Workspaces(served[2].parent / "workspace").shared("no-real").add_samples(synthetic, part)
    assert LoadReport(**part["report"]).rows_kept == 4
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.set_default_timeout(WAIT)
    for path in ["", *ANALYSIS_PAGES]:
        page.goto(f"{served[0]}/{path}?workspace=no-real", wait_until="domcontentloaded")
        page.get_by_text("no real samples").first.wait_for(timeout=WAIT)
        page.wait_for_timeout(500)  # anything the page draws after its message
        assert_no_error_shown(page)
        assert "load your real samples" in page.inner_text("body"), path


# --- The map, on the built-in demo -----------------------------------------------------------------------------------


def open_map(browser, served):
    page = open_page(browser, f"{served[0]}/embedding_map?workspace=map-demo", "Synthetic sets shown", charts=1)
    page.set_default_timeout(WAIT)
    assert_no_error_shown(page)
    return page


def coloured_caption(page) -> str:
    """The caption under the map's questions: how many samples are in colour, and each set's share of them."""
    caption = page.get_by_text(re.compile(r"samples in colour, the rest in grey")).first
    caption.wait_for(timeout=WAIT)
    return caption.inner_text()


def drag_a_box(page) -> int:
    """Drag a box over the middle of the map; the number of samples it holds, from the Selection caption."""
    box = page.locator('[data-testid="stVegaLiteChart"]').first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=12)
    page.mouse.up()
    caption = page.get_by_text(re.compile(r"[\d,]+ samples in the box")).first
    caption.wait_for(timeout=WAIT)
    return int(re.search(r"([\d,]+) samples in the box", caption.inner_text()).group(1).replace(",", ""))


def test_a_click_on_a_set_filters_the_map(served, browser):
    page = open_map(browser, served)
    page.get_by_role("radiogroup", name="Show only").get_by_role("radio", name="llm", exact=True).click()
    caption = coloured_caption(page)
    assert re.match(r"1,000 samples in colour", caption), caption  # the demo's llm set (generation 1)
    assert "100.0% of llm (1,000)" in caption and "0.0% of real" in caption
    settle(page)
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
    assert_no_error_shown(page)
    no_density_layer(page)  # the README's picture: one set in colour, the rest grey, and a box's per-set shares
    drag_a_box(page)
    settle(page)
    set_shares(page)
    doc_screenshot(page, "embedding-map-filtered.png")


def set_shares(page) -> dict[str, tuple[int, int, float, float]]:
    """The first table under the map, a row per set: (selected, total, share of the set, share of the selection), read
    from the grid's accessible cells (the grid itself is drawn on a canvas). Its sixth column, "p, fewer than real",
    is checked here: empty for real, a probability for every other set."""
    grid = page.locator('[data-testid="stDataFrame"]').first.locator('[role="gridcell"]')
    grid.nth(6 * 6 - 1).wait_for(state="attached", timeout=WAIT)  # the demo's six sets, six columns each
    cells = grid.all_text_contents()
    rows = [cells[i : i + 6] for i in range(0, len(cells), 6)]
    shares = {
        name: (int(selected), int(total), float(of_set), float(of_box))
        for name, selected, total, of_set, of_box, _ in rows
    }
    assert set(shares) == {"real", "llm", "llm g2", "llm g3", "paraphrase", "rule-based"}, rows
    p_values = {name: p.strip() for name, *_, p in rows}
    assert p_values["real"] in {"", "None", "nan"}, rows
    assert all(0 <= float(p) <= 1 for name, p in p_values.items() if name != "real"), rows
    return shares


def assert_shares_are_counts(shares: dict[str, tuple[int, int, float, float]], inside: int) -> None:
    """Each set's share of itself is selected ÷ total, its share of the selection selected ÷ all selected."""
    assert sum(selected for selected, *_ in shares.values()) == inside
    for selected, total, of_set, of_box in shares.values():
        assert of_set == pytest.approx(selected / total) and of_box == pytest.approx(selected / inside)
    assert 0 < shares["real"][2] < 1


def no_density_layer(page) -> None:
    """Density layer: none, so a README picture shows the sets' own colours."""
    page.locator('[data-testid="stSelectbox"]', has_text="Density layer").click()
    page.get_by_role("option", name="none", exact=True).click()
    settle(page)


def doc_screenshot(page, name: str) -> None:
    """A PNG for the README (docs/<name>): the top 1,700 pixels of the page, sidebar, map and the selection's tables."""
    page.wait_for_timeout(1000)  # the last chart's drawing
    page.screenshot(path=str(DOCS / name), clip={"x": 0, "y": 0, "width": 1400, "height": 1700})
    assert (DOCS / name).stat().st_size > 50_000


def test_a_box_gives_each_sets_share(served, browser):
    page = open_map(browser, served)
    inside = drag_a_box(page)
    settle(page)
    assert_shares_are_counts(set_shares(page), inside)
    assert_no_error_shown(page)


def draw_a_lasso(page) -> int:
    """Switch the map to the lasso and draw a five-lobed loop over its middle with the mouse (as a hand draws: concave,
    many corners); the number of samples it holds, from the Selection caption."""
    import math

    page.get_by_role("radiogroup", name="Select with").get_by_role("radio", name="lasso", exact=True).click()
    area = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    area.wait_for(timeout=WAIT)
    settle(page)
    box = area.bounding_box()
    corners = []
    for step in range(61):
        turn = 2 * math.pi * step / 60
        radius = 0.17 * (1 + 0.25 * math.sin(5 * turn))
        corners.append((box["x"] + box["width"] * (0.45 + radius * math.cos(turn)),
                        box["y"] + box["height"] * (0.45 + radius * math.sin(turn))))  # fmt: skip
    page.mouse.move(*corners[0])
    page.mouse.down()
    for x, y in corners[1:]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()
    caption = page.get_by_text(re.compile(r"[\d,]+ samples in the lasso")).first
    caption.wait_for(timeout=WAIT)
    return int(re.search(r"([\d,]+) samples in the lasso", caption.inner_text()).group(1).replace(",", ""))


def test_a_lasso_gives_each_sets_share(served, browser):
    """Issue 32: a lasso drawn with the mouse on the Plotly map is applied to every sample on the server; each set's
    share of it is selected ÷ total, as for a box, in the same table; a README screenshot of it."""
    page = open_map(browser, served)
    no_density_layer(page)
    inside = draw_a_lasso(page)
    settle(page)
    shares = set_shares(page)
    assert_shares_are_counts(shares, inside)
    assert 0 < inside < sum(total for _, total, *_ in shares.values()) == 13_633  # every demo sample is on the map
    assert page.get_by_role("button", name="Selection as CSV").count() == 1  # the export the box has
    assert_no_error_shown(page)
    doc_screenshot(page, "embedding-map-lasso.png")


def test_a_semantic_search_highlights_the_nearest_samples(served, browser):
    page = open_map(browser, served)
    search = page.get_by_role("textbox", name="Texts about")
    search.fill("ancient wars and empires")
    search.press("Enter")
    caption = coloured_caption(page)
    assert caption.startswith("200 samples in colour"), caption  # SEMANTIC_HITS nearest samples
    settle(page)
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1  # the map, redrawn with them in colour
    assert_no_error_shown(page)


def read_table(data: bytes, suffix: str) -> pd.DataFrame:
    if suffix == ".csv":
        return pd.read_csv(io.BytesIO(data))
    if suffix == ".parquet":
        return pd.read_parquet(io.BytesIO(data))
    return pd.DataFrame([json.loads(line) for line in data.decode().splitlines() if line.strip()])


def test_the_selection_downloads_in_each_format(served, browser):
    page = open_map(browser, served)
    inside = drag_a_box(page)
    settle(page)
    ids = None
    for suffix in (".csv", ".parquet", ".jsonl"):
        with page.expect_download(timeout=WAIT) as download:
            page.get_by_role("button", name=f"Selection as {suffix[1:].upper()}").click()
        assert download.value.suggested_filename == f"selection{suffix}"
        table = read_table(Path(download.value.path()).read_bytes(), suffix)
        assert len(table) == inside and {"id", "text", "source", "method", "label"} <= set(table.columns), suffix
        ids = ids if ids is not None else list(table["id"].astype(str))
        assert list(table["id"].astype(str)) == ids, f"{suffix} holds other samples than the CSV"
