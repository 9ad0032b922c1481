"""Generation with every method: provenance, determinism, noise, recursion, resumable runs, the local model."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from analysis.demo import load_demo
from analysis.generate import GenerationError, LocalBackend, generate
from analysis.generate.backends import Completion, Request

PROVENANCE = ["backend", "model", "prompt_template", "temperature", "top_p", "seed", "run_seed"]


@pytest.fixture(scope="session")
def real():
    """60 short real demo samples in 3 topics: a small, real input."""
    demo = load_demo(synthetic=False)
    short = demo[(demo["text"].str.len() < 260) & demo["label"].isin(["Geography", "Arts", "Mathematics"])]
    return short.groupby("label").head(20).reset_index(drop=True)


@pytest.fixture(scope="session")
def local():
    """The bundled SmolLM2 through llama.cpp, loaded once for the session."""
    backend = LocalBackend()
    backend.complete_many([Request([{"role": "user", "content": "Hi"}], max_tokens=1)])
    return backend


def assert_provenance(frame, method, n, generation=1):
    assert len(frame) == n and frame["text"].is_unique and frame["id"].is_unique
    assert (frame["text"].str.len() > 0).all()
    assert set(frame["method"]) == {method} and set(frame["source"]) == {"synthetic"}
    assert set(frame["generation"]) == {generation} and set(frame["split"]) == {"train"}
    for column in PROVENANCE:
        assert column in frame.columns


def test_rule_based_rows_and_provenance(real):
    frame = generate("rule-based", real, 30, seed=3, noise=0.3).samples
    assert_provenance(frame, "rule-based", 30)
    assert frame["parent_id"].isin(real["id"]).all()
    assert set(frame["backend"]) == {"rules"} and set(frame["noise"]) == {0.3}
    parents = real.set_index("id").loc[frame["parent_id"]]
    assert (frame["label"].values == parents["label"].values).all()


def test_rule_based_is_deterministic_per_seed(real):
    one = generate("rule-based", real, 20, seed=7).samples
    two = generate("rule-based", real.sample(frac=1, random_state=1), 20, seed=7).samples  # row order does not matter
    other = generate("rule-based", real, 20, seed=8).samples
    assert one["text"].tolist() == two["text"].tolist()
    assert one["text"].tolist() != other["text"].tolist()


def test_noise_changes_the_output_measurably(real):
    def changed_words(noise):
        frame = generate("rule-based", real, 40, seed=1, noise=noise).samples
        parents = real.set_index("id").loc[frame["parent_id"], "text"]
        share = [
            1 - len(set(a.split()) & set(b.split())) / len(set(a.split()) | set(b.split()))
            for a, b in zip(frame["text"], parents)
        ]
        return sum(share) / len(share)

    low, high = changed_words(0.1), changed_words(0.6)
    assert 0 < low < high
    assert high - low > 0.15


def test_the_holdout_is_never_an_input(real):
    frame = generate("rule-based", real, 40, seed=2, noise=0.2).samples
    holdout = set(real.loc[real["split"] == "holdout", "id"])
    assert holdout and not (set(frame["parent_id"]) & holdout)


def test_recursion_makes_the_next_generation(real):
    first = generate("rule-based", real, 20, seed=1).samples
    second = generate("rule-based", first, 10, seed=1).samples
    assert_provenance(second, "rule-based", 10, generation=2)
    assert second["parent_id"].isin(first["id"]).all()


def test_bad_arguments_are_clear(real):
    with pytest.raises(GenerationError, match="Unknown method"):
        generate("magic", real, 1)
    with pytest.raises(GenerationError, match="Unknown parameter"):
        generate("rule-based", real, 1, temperature=1.0)
    with pytest.raises(GenerationError, match="no input samples"):
        generate("rule-based", real.iloc[:0], 1)


def test_impossible_runs_stop_with_the_rejection_counts(real):
    one = real.iloc[:1]
    with pytest.raises(GenerationError, match=r"Only 1 of 5 samples.*duplicate"):
        generate("rule-based", one, 5, noise=0.0)


class ScriptedBackend:
    """A backend with canned answers, to test the run loop; the real backends are tested elsewhere."""

    name, model = "scripted", "none"

    def __init__(self, answers):
        self.answers = list(answers)

    def complete_many(self, requests):
        return [self.answers.pop(0) for _ in requests]


def test_rejections_are_counted_and_replaced(real):
    answers = [
        Completion("Sure! Here is the text: The Nile is long and flows north."),
        Completion("cut off", "length"),
        Completion(""),
        Completion("The Nile is long and flows north."),  # duplicate of the first
        Completion("Mount Everest is the highest mountain on Earth."),
    ]
    generated = generate("llm", real, 2, backend=ScriptedBackend(answers), batch_size=1)
    frame, report = generated.samples, generated.report
    assert frame["text"].tolist() == [
        "The Nile is long and flows north.",
        "Mount Everest is the highest mountain on Earth.",
    ]
    assert report.rejected == {"truncated": 1, "empty": 1, "duplicate": 1}


def test_cancel_returns_what_was_accepted(real):
    calls = []
    generated = generate(
        "rule-based",
        real,
        50,
        batch_size=5,
        should_stop=lambda: len(calls) >= 2,
        progress=lambda done, total: calls.append(done),
    )
    assert len(generated.samples) == 10 and generated.report.complete is False
    assert generated.report.accepted == 10 and generated.report.requested == 50


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    from analysis.generate import generate
    real = pd.read_parquet(sys.argv[1])
    def progress(done, total):
        if done >= 25:
            os.kill(os.getpid(), signal.SIGKILL)  # die mid-run, after some batches were checkpointed
    generate("rule-based", real, 60, seed=5, checkpoint=sys.argv[2], progress=progress, batch_size=7)
    """
)


def test_a_killed_run_resumes_to_exactly_n_unique_samples(real, tmp_path):
    real.to_parquet(tmp_path / "real.parquet")
    checkpoint = tmp_path / "run.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "real.parquet"), str(checkpoint)], capture_output=True
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    on_file = [json.loads(line) for line in checkpoint.read_text().splitlines()[1:]]
    assert 25 <= len(on_file) < 60
    with open(checkpoint, "a") as file:
        file.write('{"index": 99, "row": {"te')  # a torn last line, as a kill during a write leaves
    resumed = generate("rule-based", real, 60, seed=5, checkpoint=checkpoint, batch_size=7).samples
    uninterrupted = generate("rule-based", real, 60, seed=5, batch_size=7).samples
    assert len(resumed) == 60 and resumed["text"].is_unique and resumed["id"].is_unique
    assert resumed["text"].tolist() == uninterrupted["text"].tolist()


def test_a_checkpoint_of_other_settings_is_refused(real, tmp_path):
    checkpoint = tmp_path / "run.jsonl"
    generate("rule-based", real, 5, seed=1, checkpoint=checkpoint)
    with pytest.raises(GenerationError, match="other settings"):
        generate("rule-based", real, 5, seed=2, checkpoint=checkpoint)


# --------------------------------------------------------------------------- the real local model


def test_paraphrase_with_the_local_model(real, local):
    frame = generate("paraphrase", real, 3, seed=1, backend=local, max_tokens=96).samples
    assert_provenance(frame, "paraphrase", 3)
    assert frame["parent_id"].isin(real["id"]).all()
    assert set(frame["backend"]) == {"local"} and set(frame["model"]) == {"SmolLM2-135M-Instruct.Q4_1.gguf"}
    assert set(frame["prompt_template"]) == {"paraphrase-v1"} and set(frame["temperature"]) == {0.7}
    parents = real.set_index("id").loc[frame["parent_id"], "text"]
    assert all(text != parent for text, parent in zip(frame["text"], parents))


def test_llm_with_the_local_model_writes_for_a_label(real, local):
    frame = generate("llm", real, 3, seed=1, backend=local, k=2, max_tokens=96).samples
    assert_provenance(frame, "llm", 3)
    assert frame["parent_id"].isna().all() and frame["label"].isin(real["label"]).all()
    examples = frame["example_ids"].map(json.loads)
    assert all(len(ids) == 2 and set(ids) <= set(real["id"]) for ids in examples)
    for ids, label in zip(examples, frame["label"]):
        assert set(real.set_index("id").loc[ids, "label"]) == {label}


def test_local_generation_is_reproducible(real, local):
    one = generate("paraphrase", real, 2, seed=11, backend=local, max_tokens=64).samples
    two = generate("paraphrase", real, 2, seed=11, backend=local, max_tokens=64).samples
    assert one["text"].tolist() == two["text"].tolist()


# --------------------------------------------------------------------------- a native crash is an error, not an outage


def test_the_local_model_runs_in_a_worker_process(local):
    """llama.cpp never runs in the caller: its crash must not be able to end this process."""
    assert local.worker.pid is not None and local.worker.pid != os.getpid()
    assert "llama_cpp" not in sys.modules


def test_the_llama_build_is_portable(local):
    """No AVX-512 and no AMX code paths: CPUs that report them in CPUID may still kill them with SIGILL."""
    info = local.worker.system_info
    assert "AVX2 = 1" in info or "AVX2" in info, info  # the baseline is there
    for feature in ("AVX512", "AMX"):
        assert f"{feature} = 1" not in info and f"{feature}_INT8 = 1" not in info, info


@pytest.mark.parametrize("crash", [signal.SIGILL, signal.SIGKILL], ids=["SIGILL", "SIGKILL"])
def test_a_worker_that_dies_mid_run_is_a_clear_error_and_the_run_resumes(real, local, tmp_path, monkeypatch, crash):
    """The worker dies while it answers the second batch, as llama.cpp does on an instruction the CPU refuses."""
    checkpoint = tmp_path / "run.jsonl"
    settings = dict(seed=3, backend=local, checkpoint=checkpoint, max_tokens=96, batch_size=2)
    worker, send, batches, killed = local.worker, local.worker._send, [], []

    def send_then_die(message):
        send(message)
        if "requests" in message and not killed:
            batches.append(message)
            if len(batches) == 2:
                killed.append(worker.pid)
                os.kill(worker.pid, crash)

    monkeypatch.setattr(worker, "_send", send_then_die)
    with pytest.raises(GenerationError) as error:
        generate("paraphrase", real, 4, **settings)
    message = str(error.value)
    assert f"killed by {crash.name}" in message and "of 4 samples were accepted and kept" in message
    assert "keep running" in message and "--resume" in message and "COLLAPSE_LAB_OPENAI_BASE_URL" in message
    kept = [json.loads(line) for line in checkpoint.read_text().splitlines()[1:]]
    assert len(kept) == 2  # the first batch, on file; the second died with the worker
    resumed = generate("paraphrase", real, 4, **settings).samples  # a fresh worker picks the run up
    assert worker.pid not in (None, killed[0])
    assert len(resumed) == 4 and resumed["text"].is_unique
    rows = [r["row"]["text"] for r in kept if "row" in r]
    assert resumed["text"].tolist()[: len(rows)] == rows


# --------------------------------------------------------------------------- stages you can see; no orphaned worker


def test_the_stages_are_reported_in_order_through_the_library(real, tmp_path):
    """A cold local worker: its start, the model load, then each sample, then done; progress after each batch."""
    backend = LocalBackend()
    llama_worker_close = backend.worker.close
    llama_worker_close()  # cold, as on the app's first Generate
    events = []
    generated = generate(
        "llm",
        real,
        3,
        seed=5,
        backend=backend,
        checkpoint=tmp_path / "run.jsonl",
        max_tokens=48,
        batch_size=8,
        on_stage=lambda stage, text: events.append((stage, text)),
        progress=lambda done, total: events.append(("progress", f"{done}/{total}")),
    )
    stages = [stage for stage, _ in events]
    assert stages[:2] == ["start", "load"] and stages[-1] == "done", events
    assert stages.count("start") == 1 and stages.count("load") == 1
    assert "local model worker" in events[0][1] and "SmolLM2" in events[1][1] and " MB)" in events[1][1]
    generating = [text for stage, text in events if stage == "generate"]
    assert generating[0] == "Generating sample 1 of 3…"
    numbers = [int(text.split()[2]) for text in generating]
    assert numbers == sorted(numbers) and numbers[-1] <= 3 and len(generating) >= 3  # one per sample at least
    assert stages.index("progress") > stages.index("generate")  # progress follows the samples it counts
    assert events[-1][1].startswith(f"Generated {len(generated.samples)} of 3 samples")
    # warm now: no start and no load the second time
    again = []
    generate("llm", real, 1, seed=6, backend=backend, max_tokens=32, on_stage=lambda s, t: again.append(s))
    assert again[0] == "generate" and "start" not in again and "load" not in again


def test_the_rule_based_method_reports_its_stages_too(real):
    events = []
    generate("rule-based", real, 5, seed=1, on_stage=lambda stage, text: events.append(stage))
    assert events[0] == "generate" and events[-1] == "done" and "start" not in events


def test_llama_uses_fewer_threads_than_cores(monkeypatch):
    """llama.cpp's threads spin-wait: as many as the cores collapses when anything else runs."""
    from analysis.generate.backends import default_threads

    monkeypatch.delenv("COLLAPSE_LAB_LLAMA_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert default_threads() == max(1, cores // 2)
    monkeypatch.setenv("COLLAPSE_LAB_LLAMA_THREADS", "3")
    assert default_threads() == 3


PARENT = """
import sys, threading, time
from analysis.generate.backends import LlamaWorker, Request, smollm2_path

worker = LlamaWorker(smollm2_path())
worker.start()
print(worker.pid, flush=True)
ask = [{"role": "user", "content": "Write a very long story about a river."}]
long = Request(ask, max_tokens=2000, temperature=1.0)
threading.Thread(target=worker.complete_many, args=([long] * 20,), daemon=True).start()  # keep it busy
time.sleep(600)
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_worker_exits_soon_after_its_parent_is_killed(tmp_path):
    """SIGKILL the parent while the worker is busy with a long completion: the worker is gone soon after."""
    import time

    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=os.getcwd(), env=os.environ.copy()
    )
    try:
        worker_pid = int(parent.stdout.readline())
        time.sleep(1.0)  # the long request is under way
        assert _alive(worker_pid)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker_pid), "the llama.cpp worker outlived its killed parent by 30 s"
    finally:
        if parent.poll() is None:
            parent.kill()
