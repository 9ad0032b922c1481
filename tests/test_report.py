"""The HTML report: self-contained, escaped, opens offline in headless Chromium; and `python -m analysis report`."""

import re
from html import escape as html_escape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.corpus import combine_samples, samples_from_frame
from analysis.demo import load_demo
from analysis.generate import generate
from analysis.judge.compare import DEFINITIONS, METRICS
from analysis.maps.gaps import Gap, GapReport
from analysis.maps.regions import Region
from analysis.monitor import history_frame
from analysis.vectors.embed import embed
from analysis.views.report import build_report

SCRIPT = "<script>alert(1)</script> is how the page would be attacked"


@pytest.fixture(scope="module")
def dataset():
    demo = load_demo(synthetic=False)
    real = demo.groupby("label").head(25).reset_index(drop=True)  # 300 real, ~30 holdout
    rules = generate("rule-based", real, 60, seed=1, noise=0.3).samples
    hostile = samples_from_frame(
        pd.DataFrame(
            {"text": [SCRIPT, *real["text"].iloc[200:259]], "label": ["<b>bold</b>", *real["label"].iloc[200:259]]}
        ),
        method="<img src=x onerror=alert(2)>",
    )[0]
    samples = combine_samples(real, rules, hostile)[0]
    return samples, embed(samples["text"])


@pytest.fixture(scope="module")
def history():
    records = [
        {
            "series": "llm",
            "snapshot": f"llm g{g}",
            "generation": g,
            "metrics": {"distinct-2": v, "vendi": 100 - 10 * g, "coverage": 0.6},
            "baseline": {"distinct-2": 0.74, "vendi": 110, "coverage": 0.7},
        }
        for g, v in ((1, 0.7), (2, 0.6), (3, 0.5))
    ]
    return history_frame(records)


#: The hand-made named gaps the report fixture shows (so the summary test does not depend on clustering).
GAP_NAMES = ("volcano / lava / eruption", "opera / aria / soprano")


def hand_gaps(xy: np.ndarray) -> GapReport:
    """Two named regions (at the map's first and last rows), both gaps of the rule-based set; none of the other."""
    regions = [
        Region(id=i, name=name, terms=tuple(name.split(" / ")), size=40, x=float(xy[row, 0]), y=float(xy[row, 1]))
        for i, (name, row) in enumerate(zip(GAP_NAMES, (0, -1)))
    ]
    gaps = [
        Gap("rule-based", r.id, r.name, 20 - 5 * r.id, 0.1 * r.id, 0.8, ["a", "b"], {"Science": 3}, 0.12, 0.0)
        for r in regions
    ]
    return GapReport(regions=regions, gaps={"rule-based": gaps, "<img src=x onerror=alert(2)>": []}, rule="a rule")


def pca_map(vectors: np.ndarray) -> np.ndarray:
    """A two-dimensional map without UMAP (fast): the first two principal components."""

    centred = vectors - vectors.mean(axis=0)
    return (centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T).astype(np.float32)


@pytest.fixture(scope="module")
def report(dataset, history, tmp_path_factory):
    samples, vectors = dataset
    folder = tmp_path_factory.mktemp("report")
    xy = pca_map(vectors)
    manifest = {
        "spec": {"size": 100, "real_share": 0.5, "weights": {"rule-based": 1.0}, "strategy": "uniform", "seed": 0},
        "guardrail": {"level": "ok", "reason": "real share 50 %"},
        "counts": {"set": {"real train": 50, "rule-based": 50}},
        "metrics": {"distinct-2": 0.7},
        "file": "mix.csv",
        "sha256": "ab" * 32,
        "inputs": {"samples_sha256": "cd" * 32},
    }
    html = build_report(
        samples,
        embeddings=vectors,
        mixture_manifest=manifest,
        history=history,
        title="Review <draft>",
        gap_report=hand_gaps(xy),
        xy=xy,
    )
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return html, path


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_the_report_has_every_section_and_definition(report):
    html, _ = report
    for heading in (
        "Dataset summary",
        "Verdict and warnings",
        "Method comparison",
        "Tail coverage",
        "Mixture",
        "Monitor",
        "Metric definitions",
        "Manifest",
    ):
        assert f">{heading}</h2>" in html, heading
    for metric in METRICS:
        assert html_escape(DEFINITIONS[metric]) in html, metric
    assert html.count("<svg") >= 4  # summary, comparison, Zipf, trends
    # 300 real samples: two cross-fitted folds of 150, under the floor: no tail bars, no label heatmap
    assert "Coverage is not reported: the smallest of 2 folds of the real data has 150 samples" in html
    assert "diversity falling" in html  # a trend warning of the history
    assert re.search(r"SHA-256 <code>[0-9a-f]{64}</code>", html) and "pandas" in html


class _Outline(HTMLParser):
    """The body's top-level blocks in order (tag, id, open) and the text inside the summary section."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, str, bool]] = []
        self.depth = 0  # inside <body>: 1 = a direct child
        self.in_summary = False
        self.summary_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.depth = 1
            return
        if self.depth == 1 and tag in ("header", "section", "details"):
            self.blocks.append((tag, attrs.get("id", ""), "open" in attrs))
            self.in_summary = attrs.get("id") == "at-a-glance"
        if self.depth and tag not in ("meta", "br", "img", "input", "link", "hr"):
            self.depth += 1

    def handle_endtag(self, tag):
        if self.depth > 1 and tag not in ("meta", "br", "img", "input", "link", "hr"):
            self.depth -= 1
            if self.depth == 1:
                self.in_summary = False

    def handle_data(self, data):
        if self.in_summary:
            self.summary_text.append(data)


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_the_report_opens_with_the_summary_and_folds_the_details(report):
    html, _ = report
    outline = _Outline()
    outline.feed(html)
    assert outline.blocks[0][0] == "header"
    assert outline.blocks[1][:2] == ("section", "at-a-glance")  # the summary comes first, before any detail
    details = outline.blocks[2:]
    assert [tag for tag, _, _ in details] == ["details"] * len(details) and len(details) >= 7
    assert not any(is_open for _, _, is_open in details)  # folded
    text = " ".join(" ".join(outline.summary_text).split())
    # the verdict per set, in words
    assert "Verdict per set" in text and "rule-based" in text and "<img src=x onerror=alert(2)>" in text
    assert re.search(r"Overall: (ok|warning|alarm)", text)
    # the top named gaps, by name, with the numbers
    assert "Top named gaps" in text and all(name in text for name in GAP_NAMES)
    assert (  # the one gap sentence, with k-NN coverage where it is a number
        "rule-based misses: volcano / lava / eruption: 12% of real, 0% of rule-based "
        "(k-NN coverage 0%, real data of the same size 80%)" in text
    )
    assert "No gap: <img src=x onerror=alert(2)>." in text
    # the recommended mixture: real share, weights and the metrics it reaches beside all-real data
    assert "Recommended mixture" in text and "Keep 30% real" in text and "possible mixtures compared" in text
    assert "all real" in text and "distinct-2" in text
    # about 30 holdout samples: below coverage's floor, so the card quotes no coverage and says why
    card = text.split("Recommended mixture")[1]
    assert "tail coverage (rarest 10%)" not in card and "Coverage is not reported" in text
    # and the map with the gaps circled and named
    summary = html[html.index('id="at-a-glance"') : html.index('<details id="')]
    assert "<svg" in summary and "volcano / lava / eruption" in summary


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_everything_from_the_data_is_escaped(report):
    html, _ = report
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<b>bold</b>" not in html and "Review &lt;draft&gt;" in html


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_nothing_is_loaded_from_elsewhere(report):
    html, _ = report
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(http" not in html
    assert "Content-Security-Policy" in html


@pytest.mark.browser
@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_the_report_opens_offline_in_chromium(report):
    """Chromium opens the file with no console error and no network request, and shows the <script> sample as text."""
    from playwright.sync_api import sync_playwright

    from tests.servers import CHROMIUM_FLAGS, chromium_path

    _, path = report
    errors, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1600})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(500)
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # unfold the details
            body = page.inner_text("body")
            svg_drawn = page.evaluate(
                "Array.from(document.querySelectorAll('svg')).filter(s => s.getBoundingClientRect().width > 100).length"
            )
        finally:
            browser.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert "<script>alert(1)</script> is how the page would be attacked" in body
    assert (
        "Review <draft>" in body and svg_drawn >= 5
    )  # map, summary, comparison, Zipf, trends: the small holdout gets no tail chart


@pytest.mark.browser
@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_the_summary_fills_the_first_screen(report):
    """At 1280 px wide the whole summary (verdicts, gaps, mixture, map) lies within the first 1,000 px."""
    from playwright.sync_api import sync_playwright

    from tests.servers import CHROMIUM_FLAGS, SCREENSHOTS, chromium_path

    _, path = report
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(path.as_uri(), wait_until="load")
            box = page.locator("#at-a-glance").bounding_box()
            mixture = page.locator("#recommended-mixture").bounding_box()
            map_box = page.locator("#at-a-glance svg").first.bounding_box()
            first_detail = page.locator("body > details").first.bounding_box()
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "report-summary.png"), full_page=False)
        finally:
            browser.close()
    assert box["y"] < 200 and box["y"] + box["height"] <= 1000, box
    assert mixture["y"] < 1000 and map_box["width"] > 300 and map_box["y"] + map_box["height"] <= 1000
    assert first_detail["y"] >= box["y"] + box["height"]  # the details follow the summary
    assert (SCREENSHOTS / "report-summary.png").stat().st_size > 10_000


@pytest.mark.slow  # reaches the model or the built demo in its body
def test_report_command_writes_the_file(tmp_path, capsys):
    demo = load_demo(synthetic=False)
    real = demo.groupby("label").head(20)
    real[["text", "label"]].to_csv(tmp_path / "real.csv", index=False)
    demo.drop(real.index).head(60)[["text", "label"]].to_csv(tmp_path / "other.csv", index=False)
    out = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                "--real",
                str(tmp_path / "real.csv"),
                "--synthetic",
                f"other={tmp_path / 'other.csv'}",
                "--no-mauve",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    html = out.read_text(encoding="utf-8")
    assert "report written to" in capsys.readouterr().out
    assert (
        "real.csv" in html and "other.csv" in html and html.count("<svg") >= 3
    )  # ~24 holdout samples: no tail coverage
    assert (
        main(
            [
                "report",
                "--real",
                str(tmp_path / "real.csv"),
                "--synthetic",
                f"other={tmp_path / 'other.csv'}",
                "--out",
                str(out),
                "--mixture",
                str(tmp_path / "nope.json"),
            ]
        )
        == 3
    )


def test_the_recommended_mixture_quotes_no_coverage_below_the_floor():
    """Issue 30: on a 113-sample holdout the card said 'coverage 0.938' on the page that said coverage cannot be
    reported. Below the floor (here 380 real samples: cross-fitted folds of 190, a holdout of about 38) the
    recommendation carries no coverage number, and its text says why."""
    from analysis.views.review import recommend_mixture
    from tests.conftest import fake_embed

    rng = np.random.default_rng(0)
    real = samples_from_frame(
        pd.DataFrame({"text": [f"real sample {i} about {rng.integers(9)}" for i in range(380)]}), source="real"
    )[0]
    llm = samples_from_frame(pd.DataFrame({"text": [f"llm text {i}" for i in range(150)]}), method="llm")[0]
    samples = combine_samples(real, llm)[0]
    assert (samples["split"] == "holdout").sum() < 200
    recommendation, note = recommend_mixture(samples, fake_embed(samples["text"]))
    assert recommendation is not None, note
    assert not {"coverage", "tail coverage (rarest 10%)"} & set(recommendation.metrics)
    assert "Coverage is not reported" in recommendation.text
    assert "coverage" not in set(recommendation.metric_table()["metric"])


def test_a_column_of_metrics_reads_alike():
    """The recommended mixture's table once read 0.9611, 1, 160.7: one precision, trailing zeros kept."""
    from analysis.display import format_value
    from analysis.views.report import _table

    assert [format_value(v) for v in (0.9611, 1.0, 160.7, 12345.6, 999.96, 7, np.float32(0.5))] == [
        "0.9611",
        "1.000",
        "160.7",
        "12,346",
        "1,000",
        "7",
        "0.5000",
    ]
    assert format_value(float("nan")) == "–" and "e-05" in format_value(1e-5)
    html = _table(pd.DataFrame({"metric": ["coverage", "vendi"], "mixture": [1.0, 160.7], "all real": [np.nan, 2.0]}))
    assert ">1.000<" in html and ">160.7<" in html and ">2.000<" in html and '<td class="num"></td>' in html
