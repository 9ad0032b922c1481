"""Generate: make synthetic samples with one method, offline, and add them to the dataset."""

from __future__ import annotations

import contextlib
import hashlib
import json

import streamlit as st

from analysis.corpus import LoadReport
from analysis.generate import DEFAULTS, METHODS, generate, inputs_digest
from analysis.generate.backends import LocalBackend, OpenAIBackend
from analysis.progress import ProgressMeter
from pages._shared import plain, user_errors
from pages._workspace import current_dataset, demo_dataset, workspace

samples, manifest = current_dataset(__file__, needs_real=False)  # it can grow a synthetic set
st.title("Generate")
st.caption(
    "Make a synthetic set from the current data with a rule-based, paraphrase or LLM method, on this "
    "machine. Each accepted sample is checkpointed in the workspace: a cancelled, refreshed or crashed "
    "run continues where it stopped when you run it again with the same settings."
)
if message := st.session_state.pop("generate_flash", None):
    st.success(message, icon=":material/check_circle:")

# --------------------------------------------------------------------------- settings
left, right = st.columns(2)
method = left.selectbox("Method", METHODS, key="gen_method")
sets = samples.groupby(["source", "method", "generation"]).size().reset_index(name="rows")
choices = {"real train split": ("real", "real", 0)}
for row in sets[sets["source"] == "synthetic"].itertuples():
    choices[f"{row.method}, generation {row.generation} ({row.rows:,} samples)"] = (
        "synthetic",
        row.method,
        row.generation,
    )
source_name = right.selectbox(
    "Generate from",
    list(choices),
    key="gen_input",
    help="A synthetic set here makes its next generation (k → k + 1): recursive training data.",
)
source, input_method, input_generation = choices[source_name]
inputs = samples[
    (samples["source"] == source) & (samples["method"] == input_method) & (samples["generation"] == input_generation)
]

left, middle, right = st.columns(3)
n = left.number_input(
    "Samples", min_value=1, max_value=100_000, value=20 if method != "rule-based" else 500, key="gen_n"
)
seed = middle.number_input("Seed", min_value=0, value=0, step=1, key="gen_seed")
taken = set(samples["method"])
suggested = (
    method if method not in taken else next(f"{method}-{i}" for i in range(2, 1000) if f"{method}-{i}" not in taken)
)
name = (
    right.text_input(
        "Method name in the data",
        value=suggested,
        key=f"gen_name_{method}",
        help="A name already in the dataset adds these samples to that set.",
    ).strip()
    or suggested
)

params: dict = {}
if method == "rule-based":
    params["noise"] = st.slider(
        "Noise",
        0.0,
        1.0,
        DEFAULTS["rule-based"]["noise"],
        0.05,
        key="gen_noise",
        help="Share of words edited (synonym, insertion, swap, deletion, corpus word) and chance of a template.",
    )
    backend: LocalBackend | OpenAIBackend | None = None
else:
    left, middle, right = st.columns(3)
    params["temperature"] = left.slider(
        "Temperature", 0.0, 1.5, DEFAULTS[method]["temperature"], 0.05, key="gen_temperature"
    )
    params["top_p"] = middle.slider("Top-p", 0.1, 1.0, DEFAULTS[method]["top_p"], 0.05, key="gen_top_p")
    params["max_tokens"] = right.number_input(
        "Max tokens", 16, 1024, DEFAULTS[method]["max_tokens"], key="gen_max_tokens"
    )
    if method == "llm":
        params["k"] = st.number_input("Real examples per prompt (k)", 1, 10, DEFAULTS["llm"]["k"], key="gen_k")
    where = st.radio(
        "Backend",
        ["local: SmolLM2-135M-Instruct (llama.cpp)", "OpenAI-compatible endpoint"],
        horizontal=True,
        key="gen_backend",
    )
    backend = None
    with user_errors("Setting up the backend"):
        if where.startswith("local"):
            backend = LocalBackend()
        else:
            secrets = {}
            with contextlib.suppress(Exception):  # no secrets.toml (Streamlit raises its own type): the environment
                secrets = {
                    k: st.secrets[k]
                    for k in (
                        "COLLAPSE_LAB_OPENAI_BASE_URL",
                        "COLLAPSE_LAB_OPENAI_MODEL",
                        "COLLAPSE_LAB_OPENAI_API_KEY",
                    )
                    if k in st.secrets
                }
            concurrency = st.number_input("Concurrent requests", 1, 64, 4, key="gen_concurrency")
            backend = OpenAIBackend(
                secrets.get("COLLAPSE_LAB_OPENAI_BASE_URL"),
                secrets.get("COLLAPSE_LAB_OPENAI_MODEL"),
                secrets.get("COLLAPSE_LAB_OPENAI_API_KEY"),
                concurrency=int(concurrency),
            )
            st.caption(
                f"Endpoint {backend.shown_url}, model {backend.model}; "
                "the key is read from secrets or the environment and never shown."
            )
    if backend is None:
        st.stop()

settings = {
    "method": method,
    "name": name,
    "n": int(n),
    "seed": int(seed),
    "params": params,
    "inputs": inputs_digest(inputs),
    "backend": getattr(backend, "name", "rules"),
    "model": getattr(backend, "model", None),
}
run_key = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
checkpoint = workspace().root / "runs" / f"{method}-{run_key}.jsonl"
if checkpoint.exists():
    done = sum(1 for line in checkpoint.read_text(encoding="utf-8").splitlines() if '"row"' in line)
    st.info(
        f"A run with these settings stopped at {done:,} of {int(n):,} samples; Generate continues it.",
        icon=":material/history:",
    )

# --------------------------------------------------------------------------- run
start_column, cancel_column = st.columns([1, 5])
start = start_column.button("Generate", type="primary", key="gen_start")
cancelled = cancel_column.button(
    "Cancel", key="gen_cancel", help="Stops the run; what was accepted stays in the checkpoint."
)
if cancelled:
    st.warning("Cancelled. The samples accepted so far are kept; Generate with the same settings continues the run.")
if start:
    with user_errors("Generating"):
        meter = ProgressMeter(int(n))
        bar = st.progress(0.0, text="Preparing the run…")
        done_so_far, stage_text = [0], [""]  # what the bar shows: samples accepted, and the current stage

        def show(done: int, total: int) -> None:
            done_so_far[0] = done
            bar.progress(meter.fraction(done), text=f"{stage_text[0]} {meter.text(done)}".strip())

        def stage(name: str, text: str) -> None:
            stage_text[0] = text if name == "generate" else ""
            rest = f" · {meter.text(done_so_far[0])}" if name == "generate" and done_so_far[0] else ""
            bar.progress(meter.fraction(done_so_far[0]), text=text + rest)

        generated = generate(
            method,
            inputs,
            int(n),
            seed=int(seed),
            backend=backend,
            method_name=name,
            checkpoint=checkpoint,
            progress=show,
            on_stage=stage,
            **params,
        )
        bar.progress(1.0, text=f"Adding {len(generated.samples):,} samples to the dataset…")
        new, report = generated.samples, generated.report
        part_report = LoadReport(
            path=f"generated: {name}", format="generated", rows_read=report.attempts, rows_kept=len(new)
        )
        for reason, count in report.rejected.items():
            part_report.drop(f"generated output rejected: {reason}", count)
        part_report.notes.append(
            f"{method} from {source_name}, seed {int(seed)}, backend {report.backend}"
            + (f" ({report.model})" if report.model else "")
            + f", {report.seconds:.0f} s."
        )
        part = {
            "name": f"generated {name} g{report.generation}",
            "source": "synthetic",
            "method": name,
            "rows": len(new),
            "report": part_report.to_dict(),
        }
        # a merge into the dataset as it is now: another session's add during the run is kept
        workspace().add_samples(new, part, empty=demo_dataset)
        checkpoint.unlink(missing_ok=True)
        st.session_state["generate_flash"] = (
            f"Added {len(new):,} {plain(name)} samples (generation {report.generation}) to the dataset."
        )
        st.session_state["generate_preview"] = (
            new[["text", "label", "parent_id", "generation"]].head(20).to_dict("records")
        )
        st.rerun()

if preview := st.session_state.get("generate_preview"):
    st.markdown("**Last run: first samples**")
    st.dataframe(preview, hide_index=True)
