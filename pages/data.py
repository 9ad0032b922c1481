"""Data: load real and synthetic samples, map their columns, and see what the dataset holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from analysis import demo, summary
from analysis.corpus import (
    FORMATS,
    CorpusError,
    LoadReport,
    guess_label_column,
    guess_text_column,
    read_table,
    samples_from_frame,
    with_holdout,
)
from analysis.corpus.plan import NO_LABEL, PLAN_COLUMNS, check_plan, guess_role, plan_row, planned_files
from analysis.io import bytes_sha256
from analysis.metrics.fidelity import coverage_floor
from analysis.progress import ProgressMeter
from analysis.vectors.embed import backend_choice, embed
from analysis.views import charts
from pages._compute import dataset_cache_counts
from pages._shared import plain, user_errors
from pages._workspace import (
    button_on_version,
    coverage_picker,
    current_dataset,
    demo_dataset,
    no_real_message,
    undo_button,
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


def _raw_table(
    path: str, name: str, modified: int, *, held_key: str = "raw_tables", kept: int = RAW_TABLES_KEPT
) -> tuple[Any, dict[str, Any]]:
    """The file's own columns, read once per session and file version (a changed file is read again): a
    CSV, TSV, JSONL or Parquet file a chunk at a time, with a progress bar of the rows read. The last ``kept``
    tables read under ``held_key`` stay in the session (a load of several files keeps them all)."""
    key = (path, name, modified)
    held: dict = st.session_state.setdefault(held_key, {})
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
        for old in list(held)[: max(0, len(held) - kept + 1)]:
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


def _chosen(key: str, what: str) -> None:
    """A role, method or generation the user chose: a file name's guess no longer changes it (until the load)."""
    st.session_state.setdefault(f"{key}_chosen", set()).add(what)


def _guess_from_name(key: str, name: str | None) -> None:
    """A new file's name fills in the role, method and generation it says (``llm.csv``: synthetic, llm), except
    what the user chose since the last load; a method the name does not say is left empty, for the user to choose
    (no silent default). Runs before the widgets are drawn, so it may set their values."""
    if not name or st.session_state.get(f"{key}_guessed_for") == name:
        return
    st.session_state[f"{key}_guessed_for"] = name
    guess = guess_role(name)
    chosen = st.session_state.get(f"{key}_chosen", set())
    if guess.source and "role" not in chosen:
        st.session_state[f"{key}_role"] = guess.source
    if "method" not in chosen:
        st.session_state[f"{key}_method"] = guess.method
    if "generation" not in chosen:
        st.session_state[f"{key}_generation"] = guess.generation or 1


def _role_inputs(key: str, name: str | None) -> tuple[str, str | None, int | None]:
    """Real or synthetic; for synthetic, the method name (None: not chosen yet) and the generation; ``name``, the
    file's name, fills in what it says."""
    _guess_from_name(key, name)
    role = st.radio(
        "These samples are", ["real", "synthetic"], horizontal=True, key=f"{key}_role",
        on_change=_chosen, args=(key, "role"),
    )  # fmt: skip
    if role == "real":
        return role, None, None
    left, middle, right = st.columns([2, 2, 1])
    method = left.selectbox(
        "Generation method", METHODS, index=None, placeholder="Choose the method", key=f"{key}_method",
        on_change=_chosen, args=(key, "method"),
        help="Filled in when the file's name says it (llm, paraphrase, rule or eda in the name).",
    )  # fmt: skip
    if method == METHODS[-1]:
        method = middle.text_input("Method name", value="", key=f"{key}_method_name").strip() or None
    st.session_state.setdefault(f"{key}_generation", 1)  # its value lives in the session state: a name may set it
    generation = right.number_input(
        "Generation", min_value=1, step=1, key=f"{key}_generation", on_change=_chosen, args=(key, "generation")
    )
    return role, method, int(generation)


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # missing or not readable: read_table says which, in words
        return 0


def _already_loaded(key: str, name: str, chosen: str) -> bool:
    """Whether the user's choice ``chosen`` (an upload's id, a path and its time) is the one last loaded from this
    tab; if so the page says so. The uploader and the path field keep a file after its load: the page offers no
    second Load of it, and does not read or store it again."""
    if st.session_state.get(f"{key}_loaded") != chosen:
        return False
    st.info(
        f"{plain(name)} is loaded: it is in the dataset below (Undo last change takes the load back). Choose "
        "another file to add it.",
        icon=":material/check_circle:",
    )
    return True


def _map_and_add(
    path: Path, name: str, role: str, method: str | None, generation: int | None, key: str, chosen: str
) -> None:
    """Show the guessed columns, let the user change them, preview, and add to the dataset. ``chosen`` says which
    choice of the user this is (:func:`_already_loaded`)."""
    modified = _modified(path)
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
    no_method = role == "synthetic" and method is None and "method" not in columns
    if no_method:
        st.warning(
            f"Choose the generation method of these samples above: {plain(guess_role(name).reason)}, and "
            "the file has no method column.",
            icon=":material/help:",
        )
    replace = _load_mode(key, (str(path), name, modified, role))
    seen = button_on_version(
        manifest,
        f"Load {len(new):,} samples",
        type="primary",
        key=f"{key}_add",
        disabled=no_method or (replace and not _demo_shown() and not st.session_state.get(f"{key}_confirm_replace")),
    )
    if seen is not None:
        method_name = method or (str(new["method"].iloc[0]) if new["method"].nunique() == 1 else "several")
        part = {"name": name, "source": role, "method": method_name if role == "synthetic" else "real"}
        _commit([(new, {**part, "rows": len(new), "report": report.to_dict()})], replace, seen, key, loaded=chosen)


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
        # Set, not dropped: a browser keeps a widget's last value and sends it back on the next rerun, so a dropped
        # "Replace" came back for the next file (the AppTests, which keep no browser state, did not see it).
        replace_demo = _demo_shown() and upload[-1] == "real"  # your first real file replaces the demo
        st.session_state[mode_key] = MODES[1 if replace_demo else 0]
        st.session_state[confirm_key] = False
        st.session_state[owner_key] = owner
    replace = st.radio(
        "Then",
        MODES,
        horizontal=True,
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


def _commit(
    pieces: list[tuple[Any, dict[str, Any]]], replace: bool, seen: str, key: str, loaded: str | None = None
) -> None:
    """Add the parts (``(samples, part)`` each) to the dataset as it is now in the workspace (a merge: another
    session's add meanwhile is kept), or replace the dataset version ``seen`` (the one the page showed: refused
    if it changed since), as one version (one undo); then rerun so every widget sees it. ``loaded``: the user's
    choice just loaded (:func:`_map_and_add`)."""
    names = ", ".join(part["name"] for _, part in pieces)
    with user_errors(f"Loading {names}"):
        workspace().add_parts(pieces, replace=replace, expected=seen, empty=demo_dataset)
        st.session_state["loads_done"] = st.session_state.get("loads_done", 0) + 1
        st.session_state.pop(f"{key}_chosen", None)  # the next file's name may fill in its role and method
        st.session_state[f"{key}_loaded"] = loaded
        if key == "batch":  # a fresh, empty uploader: the files loaded are not loaded twice by a second click
            st.session_state["batch_uploads"] = st.session_state.get("batch_uploads", 0) + 1
            st.session_state.pop("batch_plan_rows", None)
        rows = sum(len(new) for new, _ in pieces)
        replaced = " They replace the earlier dataset: Undo last change brings it back." if replace else ""
        st.session_state["flash"] = f"Loaded {rows:,} samples from {plain(names)}.{replaced}"
        st.rerun()


def _file_columns(path: Path, name: str, kept: int) -> tuple[Any, dict[str, Any], str, str]:
    """A file of a load of several: its table, read report and guessed text and label columns ("" when no column
    looks like text: the plan asks for one)."""
    modified = path.stat().st_mtime_ns
    table, report_dict = _raw_table(str(path), name, modified, held_key="batch_raw_tables", kept=kept)
    if report_dict["format"] in ("txt", "folder"):
        return table, report_dict, "text", ""
    try:
        text_guess = _once(("guess", str(path), name, modified), len(table), guess_text_column, table, name)[0]
    except CorpusError:
        return table, report_dict, "", ""
    return table, report_dict, text_guess, guess_label_column(table, text_guess) or ""


def _unique_names(names: list[str]) -> list[str]:
    """File names as the plan's keys: a second file of the same name gets " (2)"."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _several_files(files: list[Any]) -> None:
    """One row per file (its role, method, generation, text and label columns, filled in from its name and its
    columns), what is missing said in words, and one Load that adds them all as one version."""
    ws = workspace()
    names = _unique_names([uploaded.name for uploaded in files])
    read: dict[str, tuple[Any, dict[str, Any]]] = {}
    guesses: dict[str, dict[str, Any]] = {}
    for name, uploaded in zip(names, files, strict=True):
        with user_errors(f"Reading {uploaded.name}"):
            path = ws.store_upload(uploaded.name, uploaded.getvalue())
            table, report_dict, text_guess, label_guess = _file_columns(path, uploaded.name, len(files) + 1)
            read[name] = (table, report_dict)
            guesses[name] = plan_row(name, text_guess, label_guess)
    if not read:
        return
    remembered: dict[str, dict[str, Any]] = st.session_state.setdefault("batch_plan_rows", {})
    plan = pd.DataFrame([remembered.get(name) or guesses[name] for name in read], columns=PLAN_COLUMNS)
    plan.insert(1, "rows", [len(read[name][0]) for name in read])
    all_columns = sorted({str(c) for table, _ in read.values() for c in table.columns})
    edited = st.data_editor(
        plan,
        key="batch_plan_" + bytes_sha256("\n".join(read).encode())[:12],
        hide_index=True,
        width="stretch",
        num_rows="fixed",
        disabled=["file", "rows"],
        column_config={
            "role": st.column_config.SelectboxColumn(options=["real", "synthetic"], required=True),
            "method": st.column_config.TextColumn(
                help="Synthetic files: rule-based, paraphrase, llm or a name of your own. Filled in when the "
                "file's name says it; never a default."
            ),
            "generation": st.column_config.NumberColumn(min_value=1, step=1, help="Synthetic files: 1, 2, 3, …"),
            "text column": st.column_config.SelectboxColumn(options=all_columns),
            "label column": st.column_config.SelectboxColumn(options=[NO_LABEL, *all_columns]),
        },
    )
    for row in edited[PLAN_COLUMNS].to_dict("records"):
        remembered[row["file"]] = row
    columns = {name: [str(c) for c in table.columns] for name, (table, _) in read.items()}
    problems = check_plan(edited[PLAN_COLUMNS], columns)
    if problems:
        st.warning(
            "Before loading, choose what is missing:\n\n" + "\n".join(f"- {plain(p)}" for p in problems),
            icon=":material/help:",
        )
    roles = tuple(edited["role"].astype(str))
    replace = _load_mode("batch", (*read, "real" if "real" in roles else "synthetic"))
    seen = button_on_version(
        manifest,
        f"Load {len(read)} file{'s' if len(read) > 1 else ''} ({int(edited['rows'].sum()):,} rows)",
        type="primary",
        key="batch_add",
        disabled=bool(problems)
        or (replace and not _demo_shown() and not st.session_state.get("batch_confirm_replace")),
    )
    if seen is None:
        return
    pieces = []
    with user_errors("Checking the files"):
        for planned in planned_files(edited[PLAN_COLUMNS], columns):
            table, report_dict = read[planned.file]
            new, report = samples_from_frame(
                table,
                name=planned.file,
                text_column=planned.text_column,
                source=planned.source,
                method=planned.method,
                generation=planned.generation,
                label_column=planned.label_column,
                report=LoadReport(**report_dict),
                duplicates="keep" if planned.source == "synthetic" else "drop",
            )
            method = planned.method or (str(new["method"].iloc[0]) if new["method"].nunique() == 1 else "several")
            part = {
                "name": planned.file,
                "source": planned.source,
                "method": method if planned.source == "synthetic" else "real",
            }
            pieces.append((new, {**part, "rows": len(new), "report": report.to_dict()}))
    if len(pieces) == len(read):
        _commit(pieces, replace, seen, "batch")


st.subheader("Load samples")
# Keyed, so the open tab stays open across the reruns of a multi-file load (it jumped back to the first one);
# a workspace that holds the user's own data opens on the upload tab.
demo_tab, upload_tab, several_tab, folder_tab = st.tabs(
    ["Built-in demo", "Upload a file", "Several files", "Folder on this machine"],
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
    chosen_file = st.session_state.get("upload_file")
    role, method, generation = _role_inputs("upload", getattr(chosen_file, "name", None))
    uploaded = st.file_uploader(
        "A file of samples: CSV, TSV, JSONL, JSON, Parquet or TXT (one sample per line)",
        type=sorted({ext.lstrip(".") for ext in FORMATS}),
        key="upload_file",
    )
    if uploaded is not None and not _already_loaded("upload", uploaded.name, uploaded.file_id):
        # the stored copy is removed again when the file fails to load
        with user_errors(f"Reading {uploaded.name}"), workspace().upload(uploaded.name, uploaded.getvalue()) as stored:
            _map_and_add(stored, uploaded.name, role, method, generation, key="upload", chosen=uploaded.file_id)

with several_tab:
    several = st.file_uploader(
        "Several files of samples, each CSV, TSV, JSONL, JSON, Parquet or TXT: each gets a row below with its "
        "role, method and generation (filled in when its name says them: real, llm, paraphrase, rule or eda, g2); "
        "check them, then load them all at once",
        type=sorted({ext.lstrip(".") for ext in FORMATS}),
        accept_multiple_files=True,
        key=f"batch_files_{st.session_state.get('batch_uploads', 0)}",
    )
    if several:
        _several_files(list(several))

with folder_tab:
    folder_role, folder_method, folder_generation = _role_inputs("folder", st.session_state.get("folder_path"))
    folder = st.text_input(
        "Path of a file or folder on this machine (a folder of .txt files: one sample per file, subfolder = label)",
        key="folder_path",
    ).strip()
    if folder:
        with user_errors(f"Reading {folder}"):
            path = Path(folder).expanduser()
            chosen = f"{path}@{_modified(path)}"  # the same path changed since is another choice
            if not _already_loaded("folder", str(path), chosen):
                _map_and_add(path, str(path), folder_role, folder_method, folder_generation, "folder", chosen)

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

with st.expander("Coverage reference: what each set is judged against", icon=":material/tune:"):
    real_count = int(numbers["real"])
    st.caption(
        "Coverage (Tail coverage, Method comparison, the mixture, the A/B test, the report) asks which real samples "
        "a set reaches. Cross-fitted, every real sample serves: the real data is dealt into two halves, each "
        f"half's k-NN balls drawn among itself (at least {coverage_floor(5):,} samples, 40 × k) and reached only by "
        "the set and by real data from the other half. The holdout judges by real samples held out of generation "
        "and training (by each text's hash, as `--holdout` on the command line). Named gaps need neither."
    )
    coverage_picker(key="data_coverage")
    share_now = numbers["holdout"] / real_count if real_count else 0.1
    share = st.number_input(
        "Holdout share of the real samples", 0.05, 0.5, float(min(max(round(share_now, 2), 0.05), 0.5)), 0.05,
        key="data_holdout_share", format="%.2f", help=f"About {numbers['holdout']:,} of the {real_count:,} now.",
    )  # fmt: skip
    seen_now = button_on_version(manifest, "Draw the holdout again", key="data_holdout_apply", disabled=not real_count)
    if seen_now is not None:
        with user_errors("Drawing the holdout again"):
            workspace().change(
                lambda table: with_holdout(table, share), action="re-drawn", expected=seen_now, empty=demo_dataset
            )
            st.rerun()

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
        f"data/cache). The map and the metrics embed what is missing. Backend: {{}} ({{}}).".format(*backend_choice())
    )
    if cached < distinct and st.button("Embed all samples now", key="embed_all"):
        meter = ProgressMeter(len(samples), unit="texts")
        bar = st.progress(0.0, text="Loading the embedding model…")
        embed(samples["text"], progress=lambda done, total: bar.progress(meter.fraction(done), text=meter.text(done)))
        st.rerun()
