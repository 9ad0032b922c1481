"""Benchmark: local-LLM generation through `generate` against calling llama_cpp.Llama directly.

    .venv/bin/python tests/benchmarks/bench_generate.py [--n 20] [--method paraphrase] [--rounds 3]

Prints the local model's accepted samples per minute, and the ratio of `generate`'s throughput to
`Llama.create_chat_completion` on exactly the same prompts, settings and seeds in the same run
(target >= 0.9: the interface, cleaning, checkpointing and the worker process that runs the model
cost at most 10 %). Both produce the same tokens, so the ratio measures the interface only. Rounds
alternate; medians are compared. It also prints which CPU features this llama.cpp build uses.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.demo import load_demo  # noqa: E402
from analysis.generate import LocalBackend, generate  # noqa: E402


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
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--method", choices=["paraphrase", "llm"], default="paraphrase")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    real = load_demo(synthetic=False)
    backend = LocalBackend()
    from llama_cpp import Llama  # the direct baseline, in this process; generate's model runs in its worker

    llama = Llama(
        model_path=str(backend.model_path), n_ctx=backend.n_ctx, n_threads=os.cpu_count(), verbose=False, seed=0
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
