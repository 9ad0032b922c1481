"""The monitor: snapshot history on disk (append-only, crash-safe), trend rules, the `check` gate."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.corpus import samples_from_frame
from analysis.judge.compare import BASELINE, COVERAGE_METRICS, METRICS
from analysis.judge.risks import RulesError, load_trend_rules
from analysis.monitor import (
    HISTORY_COLUMNS,
    THRESHOLD_COLUMNS,
    WARNING_COLUMNS,
    Monitor,
    MonitorError,
    append_record,
    demo_history,
    gate,
    history_frame,
    read_records,
    thresholds,
    warnings,
)
from tests.conftest import fake_embed as seeded_fake_embed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = [
    "river",
    "city",
    "mountain",
    "king",
    "war",
    "music",
    "science",
    "ocean",
    "forest",
    "empire",
    "language",
    "planet",
    "temple",
    "bridge",
    "poet",
]


def sentences(n, seed, vocabulary=WORDS):
    rng = np.random.default_rng(seed)
    return [f"Sample {seed}-{i}: the " + " ".join(rng.choice(vocabulary, size=8)) + "." for i in range(n)]


def vectors(n, seed, dim=16, shift=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    x[:, 0] += shift
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fake_embed(texts):
    """The shared fake embedder (tests/conftest.py) at 16 dimensions, like :func:`vectors`: no model."""
    return seeded_fake_embed(texts, dim=16)


@pytest.fixture
def real():
    frame = pd.DataFrame({"text": sentences(240, 0), "label": ["a", "b", "c"] * 80})
    samples = samples_from_frame(frame, source="real")[0]
    return samples, vectors(len(samples), 0)


@pytest.fixture
def monitor(tmp_path, real):
    samples, embeddings = real
    return Monitor(
        tmp_path / "ws",
        samples,
        real_embeddings=embeddings,
        series="pipeline",
        size=30,
        cache_dir=tmp_path / "cache",
        embedder=fake_embed,
    )


# --- History on disk ------------------------------------------------------------------------------


def test_snapshots_append_one_line_each_and_read_back_as_a_tidy_table(monitor):
    for generation, seed in ((3, 3), (1, 1), (2, 2)):  # added out of order
        monitor.add_snapshot(
            sentences(40, seed),
            f"week {generation}",
            generation=generation,
            embeddings=vectors(40, seed, shift=generation),
        )
    lines = monitor.path.read_bytes().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["series"] == "pipeline" for line in lines)
    read = monitor.read_history()
    history = read.table
    assert list(history.columns) == HISTORY_COLUMNS and read.skipped == 0 and history.attrs == {}
    places = history.drop_duplicates("snapshot").set_index("snapshot")["order"].to_dict()
    assert places == {"week 1": 1, "week 2": 2, "week 3": 3}  # ordered by generation
    assert set(history["metric"]) == set(METRICS) - {"mauve"}  # MAUVE off by default
    assert (history["size"] == 30).all() and (history["n"] == 40).all()
    judged = history["metric"].isin(COVERAGE_METRICS)  # 24 holdout samples, below the coverage floor: not reported
    assert history.loc[judged, "value"].isna().all()
    assert (
        history["baseline"].notna().any() and history.loc[~judged, "value"].notna().mean() > 0.9
    )  # label divergence: no labels
    # the snapshot moved further from the real centre at every generation
    shift = history[history["metric"] == "centroid shift"].set_index("order")["value"]
    assert shift[1] < shift[2] < shift[3]


def test_a_re_measured_snapshot_appends_and_wins_on_read(monitor):
    monitor.add_snapshot(sentences(40, 1), "week 1", timestamp="2024-05-01")
    before = monitor.path.read_bytes()
    monitor.add_snapshot(sentences(40, 9), "week 1", timestamp="2024-05-01")
    after = monitor.path.read_bytes()
    assert after.startswith(before) and len(after.splitlines()) == 2  # appended, never rewritten
    history = monitor.history()
    assert history["snapshot"].unique().tolist() == ["week 1"]
    assert history["timestamp"].iloc[0] == pd.Timestamp("2024-05-01", tz="UTC")


def test_timestamps_order_snapshots_without_generations(monitor):
    for day in ("2024-05-08", "2024-05-01", "2024-05-15"):
        monitor.add_snapshot(sentences(30, int(day[-2:])), day, timestamp=day)
    assert monitor.snapshots()["snapshot"].tolist() == ["2024-05-01", "2024-05-08", "2024-05-15"]


def test_other_real_data_is_refused(monitor, tmp_path, real):
    monitor.add_snapshot(sentences(30, 1), "a")
    other = samples_from_frame(pd.DataFrame({"text": sentences(240, 7)}), source="real")[0]
    stranger = Monitor(
        tmp_path / "ws",
        other,
        real_embeddings=vectors(len(other), 7),
        series="pipeline",
        cache_dir=tmp_path / "cache",
        embedder=fake_embed,
    )
    with pytest.raises(MonitorError, match="other real data"):
        stranger.add_snapshot(sentences(30, 2), "b")
    with pytest.raises(MonitorError, match="no real data"):
        Monitor(tmp_path / "ws", series="pipeline").add_snapshot(sentences(30, 2), "b")


def test_a_torn_last_line_is_ignored_and_the_file_stays_usable(monitor):
    monitor.add_snapshot(sentences(30, 1), "one", generation=1)
    whole = monitor.path.read_bytes()
    with open(monitor.path, "ab") as file:  # what a writer killed mid-line leaves behind
        file.write(whole[: len(whole) // 2])
    read = monitor.read_history()
    assert read.skipped == 1 and read.table["snapshot"].unique().tolist() == ["one"]
    monitor.add_snapshot(sentences(30, 2), "two", generation=2)
    records, skipped = read_records(monitor.path)
    assert [r["snapshot"] for r in records] == ["one", "two"] and skipped == 1


@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_the_history_survives_a_process_killed_mid_append(monitor, tmp_path, real):
    monitor.add_snapshot(sentences(30, 1), "one", generation=1)
    samples, embeddings = real
    samples.to_parquet(tmp_path / "real.parquet")
    np.save(tmp_path / "real.npy", embeddings)
    # the child computes a snapshot, writes half of its line, and is killed (SIGKILL) right there
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np, pandas as pd
        from analysis import monitor as module
        real = pd.read_parquet({str(tmp_path / "real.parquet")!r})
        writer = os.write
        def torn(fd, data):
            writer(fd, data[: len(data) // 2])
            os.fsync(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        os.write = torn  # the one os.write the store calls
        texts = [f"Killed sample {{i}} about the river and the city." for i in range(30)]
        rng = np.random.default_rng(5)
        x = rng.normal(size=(30, 16)); x /= np.linalg.norm(x, axis=1, keepdims=True)
        m = module.Monitor({str(tmp_path / "ws")!r}, real, real_embeddings=np.load({str(tmp_path / "real.npy")!r}),
                           series="pipeline", size=30, cache_dir={str(tmp_path / "cache")!r})
        m.add_snapshot(texts, "killed", generation=2, embeddings=x)
    """)
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert not monitor.path.read_bytes().endswith(b"\n")  # the torn line is there
    read = monitor.read_history()
    assert read.table["snapshot"].unique().tolist() == ["one"] and read.skipped == 1
    monitor.add_snapshot(sentences(30, 3), "three", generation=3)
    assert monitor.history()["snapshot"].unique().tolist() == ["one", "three"]


def test_append_record_writes_strict_json(tmp_path):
    path = tmp_path / "h.jsonl"
    append_record(path, {"snapshot": "x", "metrics": {"a": float("nan"), "b": np.float32(1.5)}})
    (line,) = path.read_text().splitlines()
    assert json.loads(line) == {"snapshot": "x", "metrics": {"a": None, "b": 1.5}}
    assert history_frame(read_records(path)[0])["value"].isna().tolist() == [True, False]


def test_snapshots_from_a_folder_and_from_a_column(monitor, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for generation in (2, 1):
        (folder / f"gen-{generation}.txt").write_text("\n".join(sentences(30, generation)))
    added = monitor.add_folder(folder)
    assert [r["snapshot"] for r in added] == ["gen-1", "gen-2"] and [r["generation"] for r in added] == [1, 2]
    assert monitor.add_folder(folder) == []  # already measured: not again
    (folder / "2024-06-01.txt").write_text("\n".join(sentences(30, 6)))
    (record,) = monitor.add_folder(folder)
    assert record["timestamp"].startswith("2024-06-01") and record["generation"] is None

    frame = pd.DataFrame({"text": sentences(60, 8), "generation": [1] * 30 + [2] * 30})
    samples = samples_from_frame(frame, method="llm")[0]
    by_column = Monitor(
        tmp_path / "ws2",
        monitor._real,
        real_embeddings=monitor._real_embeddings,
        series="llm",
        cache_dir=tmp_path / "cache",
        embedder=fake_embed,
    )
    assert [r["snapshot"] for r in by_column.add_by(samples, "generation")] == ["llm g1", "llm g2"]


@pytest.mark.slow  # embeds the demo: its built vectors or MiniLM
def test_demo_history_has_the_llm_generations():
    history = demo_history()
    snapshots = history.drop_duplicates("snapshot")
    assert snapshots["snapshot"].tolist() == ["llm g1", "llm g2", "llm g3"]
    assert snapshots["generation"].tolist() == [1, 2, 3] and snapshots["order"].tolist() == [1, 2, 3]
    assert (history["size"] == 300).all()
    distinct = history[history["metric"] == "distinct-2"]["value"].to_numpy()
    assert distinct[0] > distinct[1] > distinct[2]  # the recursive generations lose diversity
    fired = warnings(history)
    assert "llm g3" in set(fired["snapshot"]) and "diversity falling" in set(fired["rule"])


# --- Trend rules ----------------------------------------------------------------------------------


def series(values: dict[str, list[float]], baseline: dict[str, float] | None = None) -> pd.DataFrame:
    """A hand-made history: one snapshot per position, the given metric values."""
    length = max(len(v) for v in values.values())
    records = [
        {
            "series": "s",
            "snapshot": f"g{i + 1}",
            "generation": i + 1,
            "metrics": {m: v[i] for m, v in values.items()},
            "baseline": baseline or {m: v[0] for m, v in values.items()},
        }
        for i in range(length)
    ]
    return history_frame(records)


def tripping(rule: dict) -> list[float]:
    """A series of 6 snapshots built to trip ``rule`` (baseline 1.0)."""
    kind = rule["kind"]
    if kind == "drop":
        return [1.0] * 5 + [1.0 - 2 * rule["threshold"]]
    if kind == "rise":
        return [1.0] * 5 + [1.0 + 2 * rule["threshold"]]
    if kind == "spike":
        jump = (rule["threshold"] + 1) * rule["min_spread"] * 3
        return [1.0, 1.01, 0.99, 1.0, 1.0, 1.0 - jump if rule["direction"] == "down" else 1.0 + jump]
    if kind == "plateau":
        return [1.0, 1.0, 1.0] + [2 * rule["above_baseline"]] * 3
    limit = rule["threshold"] if not rule["relative"] else rule["threshold"] * 1.0
    limit = max(limit, rule.get("floor", limit)) if kind == "above" else limit
    return [1.0] * 5 + [limit * 2 + 1 if kind == "above" else limit / 2]


EXTRA_RULES = [  # kinds the shipped file does not use, so each kind is tested
    {
        "name": "too far",
        "risk": "semantic drift",
        "metric": "centroid shift",
        "kind": "above",
        "threshold": 2.0,
        "relative": True,
        "floor": 0.03,
        "severity": "alarm",
        "message": "{value:.3f} over {limit:.3f}",
    },
    {
        "name": "too few",
        "risk": "tail loss",
        "metric": "coverage",
        "kind": "below",
        "threshold": 0.5,
        "relative": False,
        "severity": "warning",
        "message": "{value:.2f} under {limit:.2f}",
    },
    {
        "name": "dip",
        "risk": "model health",
        "metric": "perplexity on real",
        "kind": "spike",
        "window": 3,
        "threshold": 3.0,
        "min_spread": 0.02,
        "direction": "down",
        "severity": "warning",
        "message": "{value} {reference} {change} {limit}",
    },
]


@pytest.mark.parametrize("rule", load_trend_rules() + EXTRA_RULES, ids=lambda r: r["name"])
def test_each_trend_rule_fires_on_a_series_built_for_it_and_not_on_a_flat_one(rule):
    flat = series({rule["metric"]: [1.0] * 6}, baseline={rule["metric"]: 1.0})
    assert warnings(flat, [rule]).empty
    history = series({rule["metric"]: tripping(rule)}, baseline={rule["metric"]: 1.0})
    fired = warnings(history, [rule])
    assert list(fired.columns) == WARNING_COLUMNS
    assert fired["snapshot"].tolist()[-1] == "g6" and set(fired["rule"]) == {rule["name"]}
    row = fired.iloc[-1]
    assert row["severity"] == rule["severity"] and row["metric"] == rule["metric"]
    assert math.isfinite(row["value"]) and math.isfinite(row["limit"]) and len(row["message"]) > 5
    assert "{" not in row["message"]  # every number filled in


def test_the_shipped_rules_are_quiet_on_a_flat_history_of_every_metric():
    flat = series({metric: [0.5] * 6 for metric in METRICS}, baseline={metric: 0.5 for metric in METRICS})
    assert warnings(flat).empty


def test_drop_from_the_first_snapshot_and_over_a_window():
    first = {
        "name": "f",
        "risk": "r",
        "metric": "vendi",
        "kind": "drop",
        "reference": "first",
        "window": 1,
        "threshold": 0.1,
        "severity": "warning",
        "message": "{change:.2f}",
    }
    window = {**first, "name": "w", "reference": "window", "window": 2}
    slow = series({"vendi": [100, 97, 94, 91, 88, 85]})  # 3 % a step: 15 % from the first, 6 % over two steps
    assert warnings(slow, [first])["snapshot"].tolist() == ["g5", "g6"]
    assert warnings(slow, [window]).empty
    fast = series({"vendi": [100, 100, 100, 100, 80, 79]})
    assert warnings(fast, [window])["snapshot"].tolist() == ["g5", "g6"]
    limits = thresholds(slow, [first])
    assert list(limits.columns) == THRESHOLD_COLUMNS
    assert np.allclose(limits["limit"], 90.0) and limits["order"].tolist() == [2, 3, 4, 5, 6]


def test_a_spike_needs_history_and_a_plateau_needs_a_bad_level():
    spike = next(r for r in load_trend_rules() if r["kind"] == "spike")
    assert warnings(series({"perplexity on real": [100, 300]}), [spike]).empty  # one earlier snapshot is not a window
    noisy = series({"perplexity on real": [100, 130, 80, 120, 90, 140]})  # jumpy but no jump stands out
    assert warnings(noisy, [spike]).empty
    plateau = next(r for r in load_trend_rules() if r["kind"] == "plateau")
    stuck_high = series({"perplexity on real": [100, 140, 160, 161, 160, 160]}, baseline={"perplexity on real": 100})
    assert warnings(stuck_high, [plateau])["snapshot"].tolist() == ["g5", "g6"]
    still_falling = series({"perplexity on real": [200, 190, 180, 170, 160, 150]}, baseline={"perplexity on real": 100})
    assert warnings(still_falling, [plateau]).empty


def test_bad_trend_rules_are_refused(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[trend]]\nname = "x"\nrisk = "r"\nmetric = "vendi"\nkind = "wobble"\nseverity = "warning"\nmessage = ""\n'
    )
    with pytest.raises(RulesError, match="unknown kind"):
        load_trend_rules(path)
    path.write_text(
        '[[trend]]\nname = "x"\nrisk = "r"\nmetric = "vendi"\nkind = "spike"\nthreshold = 3\n'
        'severity = "warning"\nmessage = ""\n'
    )
    with pytest.raises(RulesError, match="needs window"):
        load_trend_rules(path)
    path.write_text('[[rule]]\nname = "only level rules"\n')
    assert load_trend_rules(path) == []


# --- The gate -------------------------------------------------------------------------------------


def compare_table(values: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = []
    for name, metrics in values.items():
        method, _, generation = name.partition(" g")
        for metric, value in metrics.items():
            record = METRICS[metric]
            rows.append(
                {
                    "set": name,
                    "method": "real" if name == BASELINE else method,
                    "generation": int(generation or (0 if name == BASELINE else 1)),
                    "metric": metric,
                    "family": record.family,
                    "value": value,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "direction": record.direction,
                    "reference": record.reference,
                    "n": 100,
                }
            )
    return pd.DataFrame(rows)


def test_gate_verdicts_level_and_trend_rules():
    healthy = {"distinct-2": 0.74, "recall": 0.95, "centroid shift": 0.04}
    table = compare_table(
        {
            BASELINE: healthy,
            "paraphrase": healthy,
            "llm": {"distinct-2": 0.74, "recall": 0.9, "centroid shift": 0.05},
            "llm g2": {
                "distinct-2": 0.65,
                "recall": 0.9,
                "centroid shift": 0.05,
            },  # 12 % below g1: a trend warning only
            "llm g3": {"distinct-2": 0.50, "recall": 0.3, "centroid shift": 0.05},  # lost recall: level alarm
        }
    )
    result = gate(table)
    verdicts = result.verdicts.set_index("set")["verdict"].to_dict()
    assert verdicts == {"paraphrase": "ok", "llm": "ok", "llm g2": "warning", "llm g3": "alarm"}
    assert result.exit_code == 2 and result.verdict == "alarm"
    scopes = result.fired.groupby("set")["scope"].agg(set).to_dict()
    assert scopes["llm g2"] == {"trend"} and "set" in scopes["llm g3"]
    assert "llm g3: ALARM" in result.text() and json.loads(json.dumps(result.to_dict()))["exit_code"] == 2


# --- `python -m analysis check` -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """Real and synthetic files cut from the demo corpus (its vectors ship with the repository).

    150 real texts a topic (1,800, a holdout of 180): the narrow set's recall, 0.41, is then below the shipped
    rule's limit (0.48) by about 13 holdout texts. With 60 a topic (a holdout of 69) it was 0.478 against
    0.5, one text away: int8 vectors (cosine 0.996 to float32) moved it across.
    """
    from analysis.demo import load_demo

    folder = tmp_path_factory.mktemp("check")
    demo = load_demo(synthetic=False)
    real = demo.groupby("label").head(150)
    rest = demo.drop(real.index)
    real[["text", "label"]].to_csv(folder / "real.csv", index=False)
    rest.groupby("label").head(15)[["text", "label"]].to_csv(folder / "fresh.csv", index=False)  # unseen real text
    rest[rest["label"] == rest["label"].iloc[0]].head(180)[["text", "label"]].to_csv(folder / "narrow.csv", index=False)
    return folder


def check(folder, *extra):
    return main(["check", "--real", str(folder / "real.csv"), "--no-mauve", *extra])


@pytest.mark.slow  # embeds the demo files: the built demo's vectors or MiniLM
def test_check_exit_codes(demo_files, tmp_path, capsys):
    folder = demo_files
    assert check(folder, "--synthetic", f"fresh={folder / 'fresh.csv'}") == 0
    assert "fresh: OK (no rule fires)" in capsys.readouterr().out

    warn = tmp_path / "warn.toml"
    warn.write_text(
        '[[rule]]\nname = "one topic"\nrisk = "semantic drift"\nmetric = "label divergence"\nwhen = "above"\n'
        'threshold = 0.2\nrelative = false\nseverity = "warning"\nmessage = "JS {value:.2f}"\n'
    )
    assert (
        check(folder, "--synthetic", f"narrow={folder / 'narrow.csv'}", "--rules", str(warn), "--format", "json") == 1
    )
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "warning" and result["sets"][0]["rules"] == "one topic"

    alarm = tmp_path / "alarm.toml"
    alarm.write_text(warn.read_text().replace('"warning"', '"alarm"'))
    assert check(folder, "--synthetic", f"narrow={folder / 'narrow.csv'}", "--rules", str(alarm)) == 2
    assert "narrow: ALARM (one topic)" in capsys.readouterr().out
    assert check(folder, "--synthetic", f"narrow={folder / 'narrow.csv'}") == 2  # the shipped rules: recall lost

    capsys.readouterr()
    assert check(folder, "--synthetic", f"gone={folder / 'missing.csv'}") == 3
    assert "missing.csv" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text('[[trend]]\nname = "x"\n')
    assert check(folder, "--synthetic", f"fresh={folder / 'fresh.csv'}", "--rules", str(broken)) == 3
    for usage in (
        ["check"],
        ["check", "--real", "r.csv", "--synthetic", "no-equals-sign"],
        ["check", "--real", "r.csv", "--synthetic", "a=b.csv", "--colour"],
    ):
        with pytest.raises(SystemExit) as stopped:
            main(usage)
        assert stopped.value.code == 2, usage  # as every command; the usage line on stderr tells it from an alarm
        assert "usage: python -m analysis check" in capsys.readouterr().err


# --- Copies of the evaluation holdout ---------------------------------------------------------------


def copied(texts, synthetic_texts):
    from analysis.corpus import combine_samples

    real = samples_from_frame(pd.DataFrame({"text": texts}), source="real")[0]
    copy = samples_from_frame(pd.DataFrame({"text": synthetic_texts}), source="synthetic", method="copy")[0]
    return combine_samples(real, copy)[0]


def test_copies_of_the_holdout_count_as_copies_and_are_an_alarm_on_their_own():
    from analysis.judge.compare import compare

    texts = sentences(120, 7)
    samples = copied(texts, texts)  # a synthetic set identical to the real data
    holdout = set(samples.loc[(samples["source"] == "real") & (samples["split"] == "holdout"), "text"])
    assert 6 <= len(holdout) < 60
    table = compare(samples, embeddings=fake_embed(samples["text"].tolist()), with_mauve=False, with_utility=False)
    values = table[table["set"] == "copy"].set_index("metric")["value"]
    assert values["exact copy rate"] == 1.0 and values["near copy rate"] == 1.0  # train and holdout copies alike
    assert values["holdout copy rate"] == pytest.approx(len(holdout) / 120)  # every sample of the set, not a subsample
    result = gate(table)
    fired = result.fired.set_index("rule")
    assert fired.loc["copies the holdout", "severity"] == "alarm"
    assert "copies of the real holdout" in fired.loc["copies the holdout", "message"]
    assert result.exit_code == 2 and "copy: ALARM" in result.text()


def test_copying_real_train_text_only_is_a_warning_not_the_holdout_alarm():
    from analysis.judge.compare import compare

    texts = sentences(120, 7)
    real = samples_from_frame(pd.DataFrame({"text": texts}), source="real")[0]
    train = real.loc[real["split"] == "train", "text"].tolist()
    samples = copied(texts, train)
    table = compare(samples, embeddings=fake_embed(samples["text"].tolist()), with_mauve=False, with_utility=False)
    values = table[table["set"] == "copy"].set_index("metric")["value"]
    assert values["exact copy rate"] == 1.0 and values["holdout copy rate"] == 0.0
    rules = set(gate(table).fired["rule"])
    assert "copies real text" in rules and "copies the holdout" not in rules


@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_check_exits_2_on_a_synthetic_file_identical_to_the_real_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("analysis.vectors.embed.embed", lambda texts, **_: fake_embed(list(texts)))  # no model: fast
    real = tmp_path / "real.csv"
    pd.DataFrame({"text": sentences(120, 7), "label": ["a", "b", "c"] * 40}).to_csv(real, index=False)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(real.read_bytes())
    assert main(["check", "--real", str(real), "--synthetic", f"copy={copy}", "--no-mauve"]) == 2
    out = capsys.readouterr().out
    assert "copy: ALARM" in out and "copies the holdout" in out and "copies of the real holdout" in out
    assert out.rstrip().endswith("verdict: alarm (exit 2)")
