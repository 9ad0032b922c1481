"""The HTML report: self-contained, escaped, opens offline in headless Chromium; and `python -m analysis report`."""

import re
from html import escape as html_escape

import pandas as pd
import pytest

from analysis.cli import main
from analysis.compare import DEFINITIONS, METRICS
from analysis.corpus import combine_samples, samples_from_frame
from analysis.demo import load_demo
from analysis.embed import embed
from analysis.generate import generate
from analysis.monitor import history_frame
from analysis.report import build_report

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


@pytest.fixture(scope="module")
def report(dataset, history, tmp_path_factory):
    samples, vectors = dataset
    folder = tmp_path_factory.mktemp("report")
    manifest = {
        "spec": {"size": 100, "real_share": 0.5, "weights": {"rule-based": 1.0}, "strategy": "uniform", "seed": 0},
        "guardrail": {"level": "ok", "reason": "real share 50 %"},
        "counts": {"set": {"real train": 50, "rule-based": 50}},
        "metrics": {"distinct-2": 0.7},
        "file": "mix.csv",
        "sha256": "ab" * 32,
        "inputs": {"samples_sha256": "cd" * 32},
    }
    html = build_report(samples, embeddings=vectors, mixture_manifest=manifest, history=history, title="Review <draft>")
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return html, path


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
    assert "Coverage is not reported: the real holdout has" in html  # ~30 samples: no tail bars, no label heatmap
    assert "diversity falling" in html  # a trend warning of the history
    assert re.search(r"SHA-256 <code>[0-9a-f]{64}</code>", html) and "pandas" in html


def test_everything_from_the_data_is_escaped(report):
    html, _ = report
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<b>bold</b>" not in html and "Review &lt;draft&gt;" in html


def test_nothing_is_loaded_from_elsewhere(report):
    html, _ = report
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(http" not in html
    assert "Content-Security-Policy" in html


@pytest.mark.browser
def test_the_report_opens_offline_in_chromium(report):
    """Chromium opens the file with no console error and no network request, and shows the <script> sample as text."""
    from playwright.sync_api import sync_playwright

    from tests.app.test_browser import CHROMIUM_FLAGS, chromium_path

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
        "Review <draft>" in body and svg_drawn >= 4
    )  # summary, comparison, Zipf, trends: the small holdout gets no tail chart


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
