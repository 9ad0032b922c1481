"""One browser run of Fill (issue 33): on Tail coverage, click "Fill this gap" on a named gap of the demo, watch the
progress bar, and read the before/after numbers, with the local model in the server's worker.

The server and the browser are the shared ones of tests/app/conftest.py (on the demo, with the cache the AppTests
share); the fill goes into this tab's private workspace, so the other tests still see the demo. The demo's ``llm g3``
set under-fills a region of the real data (physical sciences), so Tail coverage names a gap to fill.
"""

import re

import pytest

from tests.app.test_browser import assert_no_error_shown, open_page
from tests.servers import SCREENSHOTS

pytestmark = pytest.mark.browser

#: Samples asked of the local model: few, as a user's first try would be (a few seconds each on 2 quiet cores).
N = 3
#: The texts shown with the progress bars on the page now (the bar's label is beside it, in its parent).
PROGRESS_TEXTS = """() => [...document.querySelectorAll('[data-testid="stProgress"]')]
    .map(bar => bar.parentElement.innerText.trim()).filter(text => text)"""


@pytest.mark.timeout(1500)  # maybe a cold server on the demo, then the local model on a shared machine
def test_fill_a_named_gap_shows_progress_and_the_numbers_before_and_after(server, browser):
    page = open_page(browser, f"{server}/tail_coverage", "Fill a gap", charts=2)
    assert_no_error_shown(page)
    gap = page.get_by_label("Gap", exact=True)
    chosen = gap.first.inner_text() if gap.count() else ""
    samples = page.get_by_label("Samples", exact=True)
    samples.fill(str(N))
    samples.press("Enter")
    page.wait_for_timeout(1500)  # the rerun for the new value
    page.get_by_role("button", name="Fill this gap").click()

    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=120_000)  # the progress bar while it runs
    stages: set[str] = set()
    success = page.locator('[data-testid="stAlertContentSuccess"]')
    for _ in range(600):  # the model's time: up to 10 minutes on a busy machine
        if success.count():
            break
        stages.update(page.evaluate(PROGRESS_TEXTS))
        page.wait_for_timeout(1000)
    success.first.wait_for(timeout=10_000)
    assert_no_error_shown(page)
    sentence = success.first.inner_text()
    # the gap's share of the set before and after, the real share, and the books: kept, dropped as copies, landed
    found = re.search(r"(\d[\d.]*%) → (\d[\d.]*%) of (.+?) \(real (\d[\d.]*%)\)", sentence)
    assert found, sentence
    assert re.search(rf"\d+ of {N} kept, \d+ dropped as copies of real samples", sentence), sentence
    assert "landed in the region" in sentence or "none kept" in sentence, sentence
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the before/after table
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "tail-coverage-fill.png"), full_page=True)
    print(chosen, "|", sentence, "|", sorted(stages))
