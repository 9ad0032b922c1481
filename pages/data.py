"""Data: load real and synthetic samples, map their columns, and see what the dataset holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import streamlit as st

from analysis import demo, summary
from analysis.corpus import (
    FORMATS,
    LoadReport,
    guess_label_column,
    guess_text_column,
    read_table,
    samples_from_frame,
)
from analysis.progress import ProgressMeter
from analysis.vectors.embed import backend_choice, embed
from analysis.views import charts
from pages._shared import (
    button_on_version,
    current_dataset,
    dataset_cache_counts,
    demo_dataset,
    no_real_message,
    plain,
    undo_button,
    user_errors,
    workspace,
    workspace_statement,
)

METHODS = ["rule-based", "paraphrase", "llm", "another method…"]
PREVIEW_ROWS = 500

samples, manifest = current_dataset(__file__, needs_real=False)
st.title("Data")
st.caption(
    "Load real samples and the synthetic sets to judge against them. Everything you load is kept "
    "in the workspace on disk: a refresh or a restart brings it back. " + workspace_statement()
)
if message := st.session_state.pop("flash", None):
    st.success(message, icon=":material/check_circle:")
undo_button(manifest, key="undo_last")
if not (samples["source"] == "real").any():
    st.warning(no_real_message(samples), icon=":material/warning:")


#: Raw tables kept in the session (each a whole file's columns: a big file is read once, not on every rerun).
RAW_TABLES_KEPT = 2


def _raw_table(path: str, name: str, modified: int) -> tuple[Any, dict[str, Any]]:
    """The file's own columns, read once per session and file version (a changed file is read again): a
    CSV, TSV, JSONL or Parquet file a chunk at a time, with a progress bar of the rows read."""
    key = (path, name, modified)
    held: dict = st.session_state.setdefault("raw_tables", {})
    if key not in held:
        bar = st.progress(0.0, text=f"Reading {plain(name)}…")
        started = time.monotonic()

        def show(rows: int, fraction: float) -> None:
            rate = rows / max(time.monotonic() - started, 1e-9)
            bar.progress(
                fraction,
                text=f"Reading {plain(name)}: {rows:,} rows read, {fraction:.0%} of the file ({rate:,.0f} rows/s)",
            )

        try:
            table, report = read_table(path, display_name=name, progress=show)
        finally:
            bar.empty()
        for old in list(held)[: max(0, len(held) - RAW_TABLES_KEPT + 1)]:
            del held[old]
        held[key] = (table, report.to_dict())
    return held[key]


def _once(key: tuple, rows: int, function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` once per ``key`` (the file version and the choices: the column guess, the
    validated sample table), so a rerun of the page (any widget) does not check a big table again; the last
    few are kept."""
    held: dict = st.session_state.setdefault("mapped_tables", {})
    full = key
    if full not in held:
        if rows > 100_000:
            with st.spinner(f"Checking {rows:,} rows…"):
                held[full] = function(*args, **kwargs)
        else:
            held[full] = function(*args, **kwargs)
        for old in list(held)[: max(0, len(held) - 4)]:
            del held[old]
    return held[full]


@st.cache_data(show_spinner="Summarising the texts…", max_entries=4)
def _text_summaries(sha256: str, _samples: Any) -> tuple[Any, Any, Any]:
    """The length chart, length table and duplicate table of the dataset, computed once per dataset version
    (its SHA-256): on a million samples each takes seconds, too long for every rerun of the page."""
    return (
        charts.length_histogram(_samples, by="method"),
        summary.length_stats(_samples, by="method"),
        summary.duplicate_stats(_samples),
    )


def _role_inputs(key: str) -> tuple[str, str | None, int | None]:
    """Real or synthetic; for synthetic, the method name and the generation."""
    role = st.radio("These samples are", ["real", "synthetic"], horizontal=True, key=f"{key}_role")
    if role == "real":
        return role, None, None
    left, middle, right = st.columns([2, 2, 1])
    method = left.selectbox("Generation method", METHODS, key=f"{key}_method")
    if method == METHODS[-1]:
        method = middle.text_input("Method name", value="", key=f"{key}_method_name").strip() or "synthetic"
    generation = right.number_input("Generation", min_value=1, value=1, step=1, key=f"{key}_generation")
    return role, method, int(generation)


def _map_and_add(path: Path, name: str, role: str, method: str | None, generation: int | None, key: str) -> None:
    """Show the guessed columns, let the user change them, preview, and add to the dataset."""
    try:
        modified = path.stat().st_mtime_ns
    except OSError:  # missing or not readable: read_table says which, in words
        modified = 0
    table, report_dict = _raw_table(str(path), name, modified)
    columns = [str(c) for c in table.columns]
    guessed = (
        ("text", "")
        if report_dict["format"] in ("txt", "folder")
        else _once(("guess", str(path), name, modified), len(table), guess_text_column, table, name)
    )
    text_guess = guessed[0]
    label_guess = guess_label_column(table, text_guess)
    left, right = st.columns(2)
    text_column = left.selectbox(
        "Text column",
        columns,
        index=columns.index(text_guess),
        key=f"{key}_text_column",
        help="Guessed: the text column with the longest mean length. Change it if the guess is wrong.",
    )
    label_options = ["(no label)"] + columns
    label_column = right.selectbox(
        "Label column",
        label_options,
        index=label_options.index(label_guess) if label_guess else 0,
        key=f"{key}_label_column",
    )
    keep_repeats = st.checkbox(
        "Keep exact duplicates",
        value=role == "synthetic",
        key=f"{key}_{role}_keep_duplicates",
        help="Repeated outputs are a symptom of collapse: synthetic sets keep them by default, real data drops "
        "them. The load report gives the raw duplicate rate either way.",
    )
    report = LoadReport(**report_dict)
    if text_column == text_guess and report.format not in ("txt", "folder"):
        report.text_column_reason = guessed[1]
    new, report = _once(
        (
            "samples",
            str(path),
            name,
            modified,
            text_column,
            role,
            method,
            generation,
            label_column,
            keep_repeats,
            report.text_column_reason,
        ),
        len(table),
        samples_from_frame,
        table,
        name=name,
        text_column=text_column,
        source=role,
        method=method,
        generation=generation,
        label_column="" if label_column == "(no label)" else label_column,
        report=report,
        duplicates="keep" if keep_repeats else "drop",
    )
    st.text(report.summary())
    st.dataframe(new[["text", "label", "method", "generation", "split"]].head(5), hide_index=True)
    replace = _load_mode(key, (str(path), name, modified, role))
    seen = button_on_version(
        manifest,
        f"Load {len(new):,} samples",
        type="primary",
        key=f"{key}_add",
        disabled=replace and not _demo_shown() and not st.session_state.get(f"{key}_confirm_replace"),
    )
    if seen is not None:
        part = {"name": name, "source": role, "method": method or "real", "rows": len(new), "report": report.to_dict()}
        _commit(new, part, replace, seen)


def _demo_shown() -> bool:
    """The current dataset is the built-in demo: replacing it loses nothing (it is always one click away)."""
    return manifest["name"] == demo.DEMO_NAME


MODES = ["Add to the current dataset", "Replace the current dataset"]


def _load_mode(key: str, upload: tuple) -> bool:
    """Add (the default) or replace; True for replace. The choice holds for one file and one load only, so a
    replace never carries over to the next upload; replacing a dataset of your own must be confirmed."""
    mode_key, confirm_key, owner_key = f"{key}_mode", f"{key}_confirm_replace", f"{key}_mode_for"
    owner = (*upload, st.session_state.get("loads_done", 0))
    if st.session_state.get(owner_key) != owner:  # another file, role or a load since: start from the default
        st.session_state.pop(mode_key, None)
        st.session_state.pop(confirm_key, None)
        st.session_state[owner_key] = owner
    replace_demo = _demo_shown() and upload[-1] == "real"  # your first real file replaces the demo
    replace = st.radio(
        "Then",
        MODES,
        horizontal=True,
        index=1 if replace_demo else 0,
        key=mode_key,
        help="Adding keeps everything loaded. Replacing asks you to confirm, unless the dataset is the built-in demo; "
        "either way, Undo last change restores the dataset before the load.",
    ).startswith("Replace")
    if replace and not _demo_shown():
        st.warning(
            f"Replacing removes the {manifest['rows']:,} samples now loaded ({plain(manifest['name'])}) from the "
            f"dataset. They stay in the workspace's history: **Undo last change** brings them back.",
            icon=":material/warning:",
        )
        st.checkbox(f"Yes, replace the {manifest['rows']:,} samples now loaded", key=confirm_key)
    return replace


def _commit(new, part: dict[str, Any], replace: bool, seen: str) -> None:
    """Add the part to the dataset as it is now in the workspace (a merge: another session's add meanwhile is
    kept), or replace the dataset version ``seen`` (the one the page showed: refused if it changed since); then
    rerun so every widget sees it."""
    with user_errors(f"Loading {part['name']}"):
        workspace().add_samples(new, part, replace=replace, expected=seen, empty=demo_dataset)
        st.session_state["loads_done"] = st.session_state.get("loads_done", 0) + 1
        replaced = " They replace the earlier dataset: Undo last change brings it back." if replace else ""
        st.session_state["flash"] = f"Loaded {len(new):,} samples from {plain(part['name'])}.{replaced}"
        st.rerun()


st.subheader("Load samples")
# Keyed, so the open tab stays open across the reruns of a multi-file load (it jumped back to the first one);
# a workspace that holds the user's own data opens on the upload tab.
demo_tab, upload_tab, folder_tab = st.tabs(
    ["Built-in demo", "Upload a file", "Folder on this machine"],
    key="data_source_tab",
    default="Built-in demo" if manifest["name"] == demo.DEMO_NAME else "Upload a file",
)
with demo_tab:
    st.write(
        "10,033 English Wikipedia summaries of the Level 4 vital articles, in 12 topics, and synthetic "
        "sets made from them by this app: rule-based, paraphrase and llm (1,000 each) and llm generations "
        "2 and 3 (300 each, each from the previous one)."
    )
    st.caption(demo.ATTRIBUTION)
    label = "Reload the demo corpus" if manifest["name"] == demo.DEMO_NAME else "Load the demo corpus"
    if st.button(
        label, key="load_demo", help="Replaces the current dataset with the demo (Undo last change brings it back)."
    ):
        with user_errors("Loading the demo"):
            workspace().clear()  # an empty workspace shows the demo (the previous state is kept)
            st.session_state["flash"] = "Loaded the demo corpus."
            st.rerun()

with upload_tab:
    role, method, generation = _role_inputs("upload")
    uploaded = st.file_uploader(
        "A file of samples: CSV, TSV, JSONL, JSON, Parquet or TXT (one sample per line)",
        type=sorted({ext.lstrip(".") for ext in FORMATS}),
        key="upload_file",
    )
    if uploaded is not None:
        # the stored copy is removed again when the file fails to load
        with user_errors(f"Reading {uploaded.name}"), workspace().upload(uploaded.name, uploaded.getvalue()) as stored:
            _map_and_add(stored, uploaded.name, role, method, generation, key="upload")

with folder_tab:
    folder_role, folder_method, folder_generation = _role_inputs("folder")
    folder = st.text_input(
        "Path of a file or folder on this machine (a folder of .txt files: one sample per file, subfolder = label)",
        key="folder_path",
    ).strip()
    if folder:
        with user_errors(f"Reading {folder}"):
            path = Path(folder).expanduser()
            _map_and_add(path, str(path), folder_role, folder_method, folder_generation, key="folder")

# --------------------------------------------------------------------------- what is loaded
st.subheader("What is in the dataset")
st.text(manifest["name"])
numbers = summary.overview(samples)
for column, (label, value) in zip(
    st.columns(len(numbers)),
    [
        ("samples", "samples"),
        ("real", "real"),
        ("synthetic", "synthetic"),
        ("real holdout", "holdout"),
        ("synthetic methods", "methods"),
        ("labels", "labels"),
    ],
):
    column.metric(label, f"{numbers[value]:,}")

count_columns = st.columns(2)
for index, by in enumerate(["source", "method", "generation", "label"]):
    with count_columns[index % 2]:
        table = summary.counts(samples, by)
        st.altair_chart(charts.count_bars(table, by), width="stretch")

length_chart, length_table, duplicate_table = _text_summaries(manifest.get("sha256", ""), samples)
st.markdown("**Text length**")
st.altair_chart(length_chart, width="stretch")
st.dataframe(length_table, hide_index=True)

st.markdown("**Duplicates**")
st.dataframe(duplicate_table, hide_index=True)

st.markdown("**Dropped or changed while loading**")
dropped = summary.dropped_table(manifest["parts"])
if dropped.empty:
    st.caption("Nothing was dropped: no empty texts, exact duplicates or repeated ids.")
else:
    st.dataframe(dropped, hide_index=True)
with st.expander("Load report of every part"):
    for part in manifest["parts"]:
        st.text(LoadReport(**part["report"]).summary())

st.markdown("**Samples**")
method_filter = st.selectbox("Show", ["all", *sorted(samples["method"].unique())], key="preview_method")
shown = samples if method_filter == "all" else samples[samples["method"] == method_filter]
st.dataframe(
    shown.head(PREVIEW_ROWS),
    hide_index=True,
    column_order=["text", "source", "method", "generation", "label", "split", "id", "parent_id"],
)
st.caption(f"First {min(PREVIEW_ROWS, len(shown)):,} of {len(shown):,} rows.")

st.markdown("**Embeddings**")
with user_errors("Embedding"):
    cached, distinct = dataset_cache_counts(samples, manifest["sha256"])  # texts hashed once per process
    st.caption(
        f"{cached:,} of {distinct:,} distinct texts have a cached embedding (all-MiniLM-L6-v2, on disk under "
        f"data/cache). The map and the metrics embed what is missing; on two quiet cores that is about 80 texts/s. "
        "Backend: {} ({}).".format(*backend_choice())
    )
    if cached < distinct and st.button("Embed all samples now", key="embed_all"):
        meter = ProgressMeter(len(samples), unit="texts")
        bar = st.progress(0.0, text="Loading the embedding model…")
        embed(samples["text"], progress=lambda done, total: bar.progress(meter.fraction(done), text=meter.text(done)))
        st.rerun()
