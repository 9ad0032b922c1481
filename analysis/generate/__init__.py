"""Generate synthetic text offline with three methods, resumably: rule-based, paraphrase, llm.

One entry point, :func:`generate`; it returns :class:`Generated`: the new rows and the run's
:class:`GenerationReport`. Each output row is in the sample-table data model with its
provenance as metadata: method, ``parent_id``, ``generation``, backend, model, prompt template,
temperature, top-p and seed. Given a previous synthetic generation as input it produces the next
one (generation k → k + 1), which the collapse simulator and the monitor build on.

Determinism: sample i of a run depends only on the run's seed, i and the inputs (sorted by id),
so a resumed run produces what the uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.corpus import COLUMNS
from analysis.generate import llm as llm_prompt
from analysis.generate import paraphrase as paraphrase_prompt
from analysis.generate.backends import (
    Backend,
    Completion,
    GenerationError,
    LocalBackend,
    OpenAIBackend,
    Request,
    get_backend,
)
from analysis.generate.checkpoint import Checkpoint
from analysis.generate.clean import clean_output
from analysis.generate.rules import augment, corpus_vocabulary

__all__ = [
    "METHODS",
    "DEFAULTS",
    "generate",
    "Generated",
    "GenerationReport",
    "GenerationError",
    "LocalBackend",
    "OpenAIBackend",
    "inputs_digest",
]

METHODS = ("rule-based", "paraphrase", "llm")
#: Default parameters per method; any of them can be passed to :func:`generate`.
DEFAULTS: dict[str, dict[str, Any]] = {
    "rule-based": {"noise": 0.3},
    "paraphrase": {"temperature": 0.7, "top_p": 0.95, "max_tokens": 160, "max_input_chars": 400},
    "llm": {"k": 3, "temperature": 0.9, "top_p": 0.95, "max_tokens": 160, "example_chars": 300},
}
PROVENANCE = ["backend", "model", "prompt_template", "temperature", "top_p", "seed", "run_seed"]


@dataclass(frozen=True)
class GenerationReport:
    """What one run of :func:`generate` did: outputs accepted and rejected (by reason), settings, time."""

    method: str  #: the method name written in the rows
    generation: int  #: the generation of the new rows (one more than the inputs')
    requested: int
    accepted: int
    rejected: dict[str, int]  #: rejected outputs by reason (``truncated``, ``empty``, ``duplicate``, ...)
    attempts: int  #: sample indices tried, accepted or not
    complete: bool  #: False when the run was stopped (``should_stop``) before ``requested`` were accepted
    seconds: float
    backend: str  #: ``rules`` for rule-based
    model: str | None
    params: dict[str, Any]
    seed: int
    inputs: str  #: :func:`inputs_digest` of the input samples

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` returns: the new rows (a sample table) and the report of the run."""

    samples: pd.DataFrame
    report: GenerationReport


def _digest(*parts: Any) -> str:
    return hashlib.sha1("\x00".join(map(str, parts)).encode("utf-8")).hexdigest()


def inputs_digest(inputs: pd.DataFrame) -> str:
    """A short hash of the input samples (ids and texts), recorded in checkpoints and manifests."""
    ordered = inputs.sort_values("id")
    return _digest(*ordered["id"], *ordered["text"])[:16]


def _select_inputs(samples: pd.DataFrame) -> pd.DataFrame:
    """The rows generation may learn from: never the real holdout, which is kept for evaluation."""
    if samples.empty:
        raise GenerationError("There are no input samples to generate from. Load real data first.")
    usable = samples[~((samples["source"] == "real") & (samples["split"] == "holdout"))]
    if usable.empty:
        raise GenerationError("All input samples are in the real holdout, which generation never sees.")
    return usable.sort_values("id").reset_index(drop=True)


class _Plan:
    """Which parent, label and examples sample i uses, and its seed: a pure function of (seed, i)."""

    def __init__(self, inputs: pd.DataFrame, seed: int) -> None:
        self.inputs = inputs
        self.seed = seed
        self.order = list(range(len(inputs)))
        random.Random(f"{seed}:order").shuffle(self.order)
        labels = inputs["label"].astype(object).where(inputs["label"].notna(), None)
        self.by_label: dict[Any, list[int]] = {}
        for position, label in enumerate(labels):
            self.by_label.setdefault(label, []).append(position)

    def rng(self, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{index}")

    def parent(self, index: int) -> pd.Series:
        return self.inputs.iloc[self.order[index % len(self.order)]]

    def examples(self, index: int, label: Any, k: int, rng: random.Random) -> pd.DataFrame:
        pool = self.by_label.get(label) or list(range(len(self.inputs)))
        return self.inputs.iloc[rng.sample(pool, min(k, len(pool)))]


TEMPLATES = {"rule-based": None, "paraphrase": paraphrase_prompt.TEMPLATE_ID, "llm": llm_prompt.TEMPLATE_ID}


def _settings(
    method: str, params: dict[str, Any], seed: int, backend: Backend | None, inputs: pd.DataFrame, n: int
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: a changed prompt template starts a new run."""
    return {
        "method": method,
        "template": TEMPLATES[method],
        "n": n,
        "seed": seed,
        "params": params,
        "backend": backend.name if backend else "rules",
        "model": backend.model if backend else None,
        "inputs": inputs_digest(inputs),
    }


def generate(
    method: str,
    real: pd.DataFrame,
    n: int,
    *,
    seed: int = 0,
    backend: str | Backend | None = None,
    method_name: str | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = True,
    progress: Callable[[int, int], object] | None = None,
    on_stage: Callable[[str, str], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = 8,
    max_attempts: int | None = None,
    **params: Any,
) -> Generated:
    """Generate ``n`` cleaned, unique synthetic samples from ``real`` with one method.

    Parameters
    ----------
    method
        ``"rule-based"``, ``"paraphrase"`` or ``"llm"``.
    real
        Input samples (the sample table). Real holdout rows are never used. Pass a synthetic
        generation k to produce generation k + 1.
    n
        Number of accepted samples to return.
    seed
        Run seed; each sample's own seed derives from it and its index.
    backend
        ``None``/``"local"`` (bundled SmolLM2 via llama.cpp), ``"openai"`` (configured endpoint),
        or a backend object. Ignored by ``rule-based``.
    method_name
        The ``method`` written in the rows (default: ``method``), e.g. to compare two settings.
    checkpoint, resume
        An append-only JSONL file; with ``resume`` a killed run continues where it stopped.
    progress
        Called as ``progress(accepted, n)`` after each batch.
    on_stage
        Called as ``on_stage(stage, text)`` at each step, in order: ``"start"`` (the local
        model's worker process starts: "Starting the local model worker…") and ``"load"``
        ("Loading SmolLM2-… (98 MB)…"), both only when the worker is not warm yet; then
        ``"generate"`` before each sample ("Generating sample 2 of 3…"); last ``"done"``. For a
        progress display that says what is happening, not only how far it is.
    should_stop
        Polled between batches; when it returns True the run stops and returns what it has
        (``report.complete`` is then False).
    **params
        Method parameters, see :data:`DEFAULTS` (``noise``; ``temperature``, ``top_p``,
        ``max_tokens``, ``max_input_chars``; ``k``, ``example_chars``).

    Returns
    -------
    Generated
        ``samples``: the sample table of the new rows; ``report``: a :class:`GenerationReport`
        that counts accepted and rejected outputs by reason, with the settings and the elapsed time.
    """
    if method not in METHODS:
        raise GenerationError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    unknown = set(params) - set(DEFAULTS[method])
    if unknown:
        raise GenerationError(
            f"Unknown parameter(s) for {method}: {sorted(unknown)}; known: {sorted(DEFAULTS[method])}."
        )
    if n < 1:
        raise GenerationError(f"n must be at least 1, got {n}.")
    params = {**DEFAULTS[method], **params}
    inputs = _select_inputs(real)
    engine = None if method == "rule-based" else get_backend(backend)
    generation = int(inputs["generation"].max()) + 1
    name = method_name or method
    plan = _Plan(inputs, seed)
    vocabulary = corpus_vocabulary(inputs["text"]) if method == "rule-based" else []
    max_attempts = max_attempts or 3 * n + 20

    log = Checkpoint(checkpoint, _settings(method, params, seed, engine, inputs, n)) if checkpoint else None
    records = log.read() if (log and resume) else {}
    if log and not records:
        log.start()
    accepted = {i: r["row"] for i, r in records.items() if "row" in r}
    rejected: dict[str, int] = {}
    for r in records.values():
        if "rejected" in r:
            rejected[r["rejected"]] = rejected.get(r["rejected"], 0) + 1
    seen = {row["text"] for row in accepted.values()}
    started = time.perf_counter()
    next_index = max(records, default=-1) + 1
    complete = True
    stage: Callable[[str, str], object] = on_stage or (lambda name, text: None)
    if isinstance(engine, LocalBackend) and len(accepted) < n:
        engine.start(stage)  # the worker's start and the model load, each reported, before any sample

    def generating(number: int) -> None:
        stage("generate", f"Generating sample {min(number, n):,} of {n:,}…")

    def base_row(index: int, text: str, parent: pd.Series | None, label: Any, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"{name}-g{generation}-{_digest(name, generation, text)[:12]}",
            "text": text,
            "source": "synthetic",
            "method": name,
            "generation": generation,
            "label": label,
            "parent_id": parent["id"] if parent is not None else None,
            "split": "train",
            "backend": engine.name if engine else "rules",
            "model": engine.model if engine else None,
            "prompt_template": extra.pop("prompt_template", None),
            "temperature": params.get("temperature"),
            "top_p": params.get("top_p"),
            "seed": extra.pop("sample_seed"),
            "run_seed": seed,
            "index": index,
            **extra,
        }

    while len(accepted) < n:
        if should_stop and should_stop():
            complete = False
            break
        if next_index >= max_attempts:
            raise GenerationError(
                f"Only {len(accepted)} of {n} samples were accepted after {next_index} attempts "
                f"(rejected: {rejected}). Lower the noise, raise max_tokens, or use more input samples."
            )
        indices = list(
            range(next_index, min(next_index + batch_size, next_index + (n - len(accepted)) + 2, max_attempts))
        )
        next_index = indices[-1] + 1
        # One job per index: (index, parent, label, extra, prompt_text), and in the same order its
        # output (rule-based: the augmented text) or its request to the backend (the other methods).
        jobs: list[tuple[int, pd.Series | None, Any, dict[str, Any], str | None]] = []
        texts: list[str] = []
        requests: list[Request] = []
        for index in indices:
            rng = plan.rng(index)
            sample_seed = rng.randrange(2**31)
            parent = plan.parent(index)
            label = parent["label"] if pd.notna(parent["label"]) else None
            if method == "rule-based":
                text, ops = augment(parent["text"], noise=params["noise"], rng=rng, vocabulary=vocabulary)
                extra = {"sample_seed": sample_seed, "noise": params["noise"], "operations": ",".join(ops)}
                jobs.append((index, parent, label, extra, None))
                texts.append(text)
            elif method == "paraphrase":
                source = paraphrase_prompt.shorten(parent["text"], params["max_input_chars"])
                request = Request(
                    paraphrase_prompt.messages(source),
                    params["max_tokens"],
                    params["temperature"],
                    params["top_p"],
                    sample_seed,
                )
                extra = {"sample_seed": sample_seed, "prompt_template": paraphrase_prompt.TEMPLATE_ID}
                jobs.append((index, parent, label, extra, source))
                requests.append(request)
            else:
                examples = plan.examples(index, label, params["k"], rng)
                request = Request(
                    llm_prompt.messages(label, list(examples["text"]), example_chars=params["example_chars"]),
                    params["max_tokens"],
                    params["temperature"],
                    params["top_p"],
                    sample_seed,
                )
                extra = {
                    "sample_seed": sample_seed,
                    "prompt_template": llm_prompt.TEMPLATE_ID,
                    "example_ids": json.dumps(list(examples["id"])),
                }
                jobs.append((index, None, label, extra, None))
                requests.append(request)

        answers: Sequence[str | Completion | GenerationError]
        generating(len(accepted) + 1)
        if engine is None:  # rule-based (the only method without a backend): the texts are the answers
            answers = texts
        elif isinstance(engine, LocalBackend):  # one answer at a time: say which sample is being written
            first, last = len(accepted) + 1, len(requests) - 1

            def answered(position: int, first: int = first, last: int = last) -> None:
                if position < last:
                    generating(first + position + 1)

            answers = engine.complete_many(requests, on_stage=stage, on_answer=answered)
        else:
            answers = engine.complete_many(requests)
        batch, failure = [], None
        for (index, parent, label, extra, prompt_text), answer in zip(jobs, answers):
            if isinstance(answer, GenerationError):
                failure = failure or answer
                next_index = min(next_index, index)  # retry this index on resume; nothing after it is lost
                continue
            if failure is not None:
                continue  # keep indices contiguous: these are regenerated, identically, next time
            if isinstance(answer, str):
                cleaned = clean_output(answer, min_words=1)
            else:
                cleaned = clean_output(answer.text, prompt_text=prompt_text, finish_reason=answer.finish_reason)
            reason = cleaned.rejected or ("duplicate" if cleaned.text in seen else None)
            if reason:
                rejected[reason] = rejected.get(reason, 0) + 1
                batch.append({"index": index, "rejected": reason})
                continue
            seen.add(cleaned.text)
            row = base_row(index, cleaned.text, parent, label, dict(extra))
            accepted[index] = row
            batch.append({"index": index, "row": row})
            if len(accepted) == n:
                break
        if log:
            log.append(batch)
        if progress:
            progress(len(accepted), n)
        if failure is not None:
            raise GenerationError(f"{failure} ({len(accepted)} of {n} samples were accepted and kept.)")

    rows = [accepted[i] for i in sorted(accepted)][:n]
    stage("done", f"Generated {len(rows):,} of {n:,} samples in {time.perf_counter() - started:.1f} s.")
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=COLUMNS + PROVENANCE)
    extra_columns = [c for c in frame.columns if c not in COLUMNS]
    frame = frame[COLUMNS + extra_columns]
    report = GenerationReport(
        method=name,
        generation=generation,
        requested=n,
        accepted=len(frame),
        rejected=rejected,
        attempts=next_index,
        complete=complete and len(frame) == n,
        seconds=round(time.perf_counter() - started, 3),
        backend=engine.name if engine else "rules",
        model=engine.model if engine else None,
        params=params,
        seed=seed,
        inputs=inputs_digest(inputs),
    )
    return Generated(frame, report)
