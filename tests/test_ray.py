"""Past one machine (issue 19): embedding and k-NN on a local Ray give the laptop's numbers.

One local Ray (``num_cpus=2``) is started for the session and stopped after it. Without Ray
installed (the 'scale' extra) the Ray tests skip, and the checks that the local engine needs no
Ray still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.metrics import knn
from analysis.vectors import distributed
from analysis.vectors.embed import embed, embedding_cache, model_id, text_keys

pytestmark = pytest.mark.slow  # a local Ray cluster; the model or the built demo

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False

needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed: pip install -e '.[scale]' (make test does)")

SECRET = "COLLAPSE_LAB_OPENAI_API_KEY"
WORDS = ["river", "city", "north", "mountain", "harbour", "winter", "market"]
WORDS += ["bridge", "forest", "castle", "island", "valley", "song", "paper"]


def sentences(n: int, seed: int = 0) -> list[str]:
    """Texts no cache holds (not the demo's): short made-up sentences, each distinct."""
    rng = np.random.default_rng(seed)
    return [f"{' '.join(rng.choice(WORDS, size=6 + i % 9))} number {seed}-{i}." for i in range(n)]


def shard_keys(cache_dir: Path) -> list[bytes]:
    """Every key written to a cache's own shards (repeats included): one per model call's text."""
    keys: list[bytes] = []
    for shard in sorted((cache_dir / "embeddings").rglob("shard-*.npz")):
        with np.load(shard) as data:
            keys += [row.tobytes() for row in data["keys"]]
    return keys


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray with 2 CPUs for the session, started with a secret in this process's environment."""
    if not HAVE_RAY:
        pytest.skip("Ray is not installed: pip install -e '.[scale]' (make test does)")
    before = os.environ.get(SECRET)
    os.environ[SECRET] = "sk-test-not-for-workers"
    try:
        with distributed.ray_session(num_cpus=2) as session:
            yield session
    finally:
        if before is None:
            os.environ.pop(SECRET, None)
        else:
            os.environ[SECRET] = before


# --------------------------------------------------------------------------- without Ray


class SerialBlocks:
    """A k-NN engine that runs the row-block functions here, one block after another."""

    def __init__(self, step: int) -> None:
        self.step = step

    def kth_neighbour_sq(self, x, kth):
        n = len(x.x)
        return np.concatenate(
            [knn.kth_neighbour_sq_rows(x, kth, s, min(n, s + self.step)) for s in range(0, n, self.step)]
        )

    def ball_counts(self, a, a_r2, b, b_r2):
        n = len(a.x)
        parts = [knn.ball_counts_rows(a, a_r2, b, b_r2, s, min(n, s + self.step)) for s in range(0, n, self.step)]
        return (
            np.concatenate([p[0] for p in parts]),
            np.logical_or.reduce([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )


def test_row_blocks_reduce_exactly_to_the_local_engine():
    rng = np.random.default_rng(3)
    real = np.round(rng.normal(size=(400, 12)), 1)  # rounded: many exact ties
    real[50:60] = real[0]
    synthetic = np.round(rng.normal(size=(300, 12)), 1)
    from analysis.metrics import fidelity

    expected = fidelity.prdc(real, synthetic, k=5), fidelity.knn_radii(real, 5)
    with knn.using(SerialBlocks(step=37)) as engine:
        assert knn.current_engine() is engine
        got = fidelity.prdc(real, synthetic, k=5), fidelity.knn_radii(real, 5)
    assert knn.current_engine() is None
    assert got[0] == expected[0]
    assert np.array_equal(got[1], expected[1])


def test_the_local_engine_imports_no_ray():
    code = "import sys, analysis.cli, analysis.judge.compare, analysis.vectors.distributed; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_engine_ray_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "one"}\n', encoding="utf-8")
    assert main(["embed", str(texts), "--engine", "ray"]) == 3
    assert "pip install -e '.[scale]'" in capsys.readouterr().err


# --------------------------------------------------------------------------- on Ray


@needs_ray
def test_unreachable_address_is_a_clear_error(tmp_path, capsys):
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "one"}\n', encoding="utf-8")
    assert main(["embed", str(texts), "--engine", "ray", "--address", "127.0.0.1:9"]) == 3
    err = capsys.readouterr().err
    assert "Cannot reach the Ray cluster at '127.0.0.1:9'" in err and "--address" in err
    with pytest.raises(distributed.ClusterUnreachableError), distributed.RayEngine("127.0.0.1:9"):
        pass


@needs_ray
@pytest.mark.slow  # loads the real model in the actors
def test_embed_on_ray_equals_the_local_path(ray_cluster, tmp_path, capsys):
    texts = sentences(120)
    pd.DataFrame({"id": range(60), "text": texts[:60], "label": "a"}).to_parquet(tmp_path / "part.parquet")
    shards = tmp_path / "shards"  # a folder of JSONL shards
    shards.mkdir()
    for number, start in enumerate((60, 90)):
        rows = [json.dumps({"text": t, "n": i}) for i, t in enumerate(texts[start : start + 30])]
        (shards / f"shard-{number}.jsonl").write_text("\n".join(rows + ['{"text": "   "}']) + "\n", encoding="utf-8")
    cache = tmp_path / "cache"  # COLLAPSE_LAB_CACHE for this test (conftest)
    args = ["embed", str(tmp_path / "part.parquet"), str(shards), "--engine", "ray", "--batch-size", "32"]
    assert main(args) == 0
    assert "120 texts read on Ray: 120 embedded now, 0 were in the cache" in capsys.readouterr().out

    identity = model_id(None)
    found, on_ray = embedding_cache(None, cache).lookup(text_keys(identity, texts))
    assert found.all()
    local = embed(texts, cache_dir=tmp_path / "local")
    assert np.abs(on_ray - local).max() <= 1e-5
    assert len(shard_keys(cache)) == 120  # each text embedded once; the blank one dropped

    assert main(args) == 0  # a rerun embeds nothing
    assert "120 texts read on Ray: 0 embedded now, 120 were in the cache" in capsys.readouterr().out
    assert len(shard_keys(cache)) == 120


@needs_ray
@pytest.mark.slow  # loads the real model in the actors
def test_a_killed_worker_is_reported_and_a_rerun_embeds_nothing_twice(ray_cluster, tmp_path):
    texts = sentences(120, seed=1)
    source = tmp_path / "texts.parquet"
    pd.DataFrame({"text": texts}).to_parquet(source)
    cache = tmp_path / "cache"
    marker = tmp_path / "crashed"
    with pytest.raises(distributed.WorkerDiedError, match="are in the cache") as died:
        distributed.embed_on_ray([source], batch_size=8, concurrency=1, retries=0, crash_marker=str(marker))
    assert marker.exists()  # the actor did die, on its 3rd batch of 8
    partial = shard_keys(cache)
    assert 0 < len(partial) < 120  # the batches that came back before the crash are kept
    assert f"{len(partial):,} vectors embedded before it are in the cache" in str(died.value)

    run = distributed.embed_on_ray([source], batch_size=8, concurrency=1)
    assert run.embedded == 120 - len(partial) and run.cached == len(partial)  # exactly the missing texts
    keys = shard_keys(cache)
    assert len(keys) == len(set(keys)) == 120  # no text went through the model twice

    # with retries, the same crash is absorbed: the actor restarts and the batch runs again
    retried = tmp_path / "retried"
    run = distributed.embed_on_ray(
        [source], batch_size=8, concurrency=1, cache_dir=retried, retries=2, crash_marker=str(tmp_path / "again")
    )
    assert run.embedded == 120
    keys = shard_keys(retried)
    assert len(keys) == len(set(keys)) == 120


@needs_ray
def test_ray_engine_k_nn_equals_the_local_engine(ray_cluster):
    rng = np.random.default_rng(5)
    real = np.round(rng.normal(size=(500, 16)), 1)
    synthetic = np.round(rng.normal(size=(350, 16)), 1)
    centre = real.mean(axis=0)
    a, b = knn.prepare(real, centre), knn.prepare(synthetic, centre)
    radii = knn.kth_neighbour_sq(a, 5)
    counts = knn.ball_counts(a, radii, b, knn.kth_neighbour_sq(b, 5))
    with distributed.RayEngine(rows_per_task=64, progress=False) as engine, knn.using(engine):
        assert np.array_equal(knn.kth_neighbour_sq(a, 5), radii)
        on_ray = knn.ball_counts(a, radii, b, knn.kth_neighbour_sq(b, 5))
    for got, expected in zip(on_ray, counts):
        assert np.array_equal(got, expected)


@needs_ray
@pytest.mark.slow  # the built demo's texts and vectors
def test_compare_on_ray_equals_compare(ray_cluster, tmp_path, capsys):
    from analysis.demo import load_demo

    demo = load_demo()  # its vectors ship with the install: nothing to embed
    real = demo[demo["source"] == "real"].head(2400)
    paths = {"real": tmp_path / "real.csv"}
    real[["text", "label"]].to_csv(paths["real"], index=False)
    synthetic = []
    for method in ("rule-based", "paraphrase"):
        paths[method] = tmp_path / f"{method}.csv"
        demo[demo["method"] == method].head(300)[["text"]].to_csv(paths[method], index=False)
        synthetic.append(f"{method}={paths[method]}")
    args = ["compare", "--real", str(paths["real"]), "--synthetic", *synthetic, "--no-mauve", "--format", "json"]
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*args, "--engine", "ray"]) == 0
    on_ray = json.loads(capsys.readouterr().out)
    assert on_ray == local  # every metric, the k-NN ones included, to the last bit (NaN written as NaN)
    assert any(row["metric"] == "coverage" and row["value"] == row["value"] for row in local["metrics"])


@needs_ray
def test_no_secret_reaches_the_workers(ray_cluster):
    @ray_cluster.remote
    def environment_of_a_worker() -> str | None:
        return os.environ.get(SECRET)

    assert os.environ[SECRET]  # the driver has it
    assert ray_cluster.get(environment_of_a_worker.remote()) is None
