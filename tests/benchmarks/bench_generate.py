"""Benchmark: local-LLM generation through `generate` against calling llama_cpp.Llama directly,
and the Generate page against the command line on the same job.

    .venv/bin/python tests/benchmarks/bench_generate.py [--n 20] [--method paraphrase] [--rounds 3]
    .venv/bin/python tests/benchmarks/bench_generate.py --app-vs-cli --method llm [--n 3] [--rounds 2] [--threads 2]

Prints the local model's accepted samples per minute, and the ratio of `generate`'s throughput to
`Llama.create_chat_completion` on exactly the same prompts, settings and seeds in the same run
(target >= 0.9: the interface, cleaning, checkpointing and the worker process that runs the model
cost at most 10 %). Both produce the same tokens, so the ratio measures the interface only. Rounds
alternate; medians are compared. It also prints which CPU features this llama.cpp build uses.

With ``--app-vs-cli``: the time from clicking Generate on the page (Streamlit's AppTest, the real
page, a cold worker as on the app's first run) to the samples added, against `python -m analysis
generate` on the same inputs, method, n and seed in a subprocess (its own cold worker), rounds
alternating in the same run; prints each stage the page showed, the worker's start and model-load
seconds, and the ratio (target <= 1.5x). ``--threads`` sets COLLAPSE_LAB_LLAMA_THREADS for both,
e.g. ``--threads 2`` to see the old setting (a thread per core) on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.demo import load_demo  # noqa: E402
from analysis.generate import LocalBackend, generate  # noqa: E402
from analysis.generate.backends import default_threads  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def app_vs_cli(n: int, rounds: int, method: str) -> None:
    """The page's Generate against the command line on the same job; both start their worker cold."""
    from streamlit.testing.v1 import AppTest

    import analysis.generate.backends as backends

    real = load_demo(synthetic=False)
    app_times, cli_times = [], []
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "real.csv"
        real[real["split"] == "train"][["id", "text", "label"]].to_csv(inputs, index=False)
        for round_ in range(rounds):
            out = Path(scratch) / f"out-{round_}.jsonl"
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "analysis", "generate", "--method", method, "--n", str(n)]
                + ["--seed", str(round_), "--input", str(inputs), "--out", str(out)],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            cli_times.append(time.perf_counter() - start)

            backends._close_workers()  # cold, as on the app's first Generate
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900).run()
            at.switch_page("pages/generate.py").run()
            at.selectbox(key="gen_method").set_value(method).run()
            at.number_input(key="gen_n").set_value(n).run()
            at.number_input(key="gen_seed").set_value(round_).run()
            start = time.perf_counter()
            at.button(key="gen_start").click().run()
            app_times.append(time.perf_counter() - start)
            assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
            shown = [s.value for s in at.success]
            worker = LocalBackend().worker
            took = worker.start_seconds
            print(
                f"round {round_ + 1}: app {app_times[-1]:.1f} s (worker start {took.get('process', 0):.1f} s, "
                f"model load {took.get('load', 0):.1f} s), command line {cli_times[-1]:.1f} s; "
                f"load average {os.getloadavg()[0]:.1f}; {shown}",
                flush=True,
            )
    ratio = statistics.median(app_times) / statistics.median(cli_times)
    print(f"llama.cpp threads: {default_threads()} (of {os.cpu_count()} cores)")
    print(f"app vs command line, {method} n={n}: {ratio:.2f}x the command line's time (target <= 1.5x)")


class Recording:
    """Passes requests to the local backend and remembers them, to replay them directly."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend, self.name, self.model = backend, backend.name, backend.model
        self.requests: list = []

    def complete_many(self, requests):
        self.requests.extend(requests)
        return self.backend.complete_many(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="samples (default 20; 3 with --app-vs-cli)")
    parser.add_argument("--method", choices=["paraphrase", "llm"], default="paraphrase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--app-vs-cli", action="store_true", help="the Generate page against the command line")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (COLLAPSE_LAB_LLAMA_THREADS)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        os.environ["COLLAPSE_LAB_LLAMA_THREADS"] = str(args.threads)
    if args.app_vs_cli:
        app_vs_cli(args.n or 3, args.rounds, args.method)
        return
    args.n = args.n or 20

    real = load_demo(synthetic=False)
    backend = LocalBackend()
    from llama_cpp import Llama  # the direct baseline, in this process; generate's model runs in its worker

    llama = Llama(
        model_path=str(backend.model_path),
        n_ctx=backend.n_ctx,
        n_threads=default_threads(),
        n_threads_batch=default_threads(),
        verbose=False,
        seed=0,
    )
    backend.complete_many([])  # start the worker and load its model before the clock
    llama.create_chat_completion(messages=[{"role": "user", "content": "Hello"}], max_tokens=8)  # warm up

    through_generate, direct, accepted = [], [], 0
    for round_ in range(args.rounds):
        recording = Recording(backend)
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            samples = generate(
                args.method, real, args.n, seed=round_, backend=recording, checkpoint=Path(scratch) / "run.jsonl"
            ).samples
            through_generate.append(time.perf_counter() - start)
        accepted = len(samples)
        start = time.perf_counter()
        for request in recording.requests:
            llama.create_chat_completion(
                messages=request.messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
            )
        direct.append(time.perf_counter() - start)
        print(
            f"round {round_ + 1}: generate {through_generate[-1]:.1f} s, direct Llama {direct[-1]:.1f} s "
            f"({len(recording.requests)} prompts, {accepted} accepted)",
            flush=True,
        )

    print(f"llama.cpp build: {backend.worker.system_info.strip()}")
    per_minute = accepted / statistics.median(through_generate) * 60
    ratio = statistics.median(direct) / statistics.median(through_generate)
    print(f"local LLM ({args.method}): {per_minute:.1f} accepted samples/min on this machine")
    print(f"generate vs direct llama_cpp.Llama on the same prompts: {ratio:.2f}x (target >= 0.9)")


if __name__ == "__main__":
    main()
