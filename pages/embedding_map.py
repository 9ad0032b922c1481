"""Embedding map: real and synthetic samples on one UMAP map, where synthetic data piles up and where it never goes."""

import numpy as np
import streamlit as st

from analysis.corpus import samples_bytes
from analysis.maps import explore, lasso, mapview
from analysis.maps.region_cache import real_regions
from analysis.maps.regions import label_positions, region_name_layer
from analysis.vectors.embed import embed
from pages._compute import dataset_embeddings, dataset_gaps, dataset_projection
from pages._controls import chart_downloads
from pages._shared import plain, user_errors
from pages._workspace import current_dataset, workspace

TABLE_PAGE = 50  # samples per page of the selection table
SEMANTIC_HITS = 200  # samples a semantic search shows
EXPORTS = ((".csv", "text/csv"), (".parquet", "application/octet-stream"), (".jsonl", "application/jsonl"))


@st.cache_resource(show_spinner=False, max_entries=2)
def map_points(sha256: str, settings: tuple, _samples, _xy):
    """The points table of a dataset's map (a million rows take about a second: built once per map)."""
    return explore.map_points(_samples, _xy, hover=False)


@st.cache_resource(show_spinner="Naming the regions of the real data…", max_entries=2)
def map_regions(sha256: str, settings: tuple, _texts, _embeddings, _labels, _xy):
    """The named regions of the real samples (the ones named gaps use: fitted on the real embeddings alone, so
    the same whatever map or sets are shown), each centred on its real members on this map."""
    return real_regions(_texts, _embeddings, labels=_labels, xy=_xy)


st.title("Embedding map")
st.caption(
    "Every sample placed by the meaning of its text (sentence embeddings, reduced to 2-D with UMAP): "
    "real and synthetic overlaid, so regions of real data that no synthetic set reaches stand out."
)

samples, manifest = current_dataset(__file__)
samples = samples.reset_index(drop=True)

with user_errors("Drawing the map"):
    embeddings = dataset_embeddings(samples, manifest["sha256"])

    with st.sidebar.expander("Map settings", icon=":material/tune:"):
        fit_on_real = st.toggle(
            "Synthetic in the geometry of real",
            key="map_fit_real",
            help="Fit the map on real samples only and place synthetic samples into it, "
            "instead of fitting on all samples.",
        )
        n_neighbors = st.slider(
            "Neighbours (n_neighbors)",
            5,
            100,
            15,
            key="map_neighbors",
            help="Larger keeps more global structure, smaller more local detail.",
        )
        min_dist = st.slider(
            "Minimum distance (min_dist)",
            0.0,
            0.99,
            0.1,
            0.01,
            key="map_min_dist",
            help="How tightly points may pack together on the map.",
        )
        seed = st.number_input(
            "Seed (empty: fastest)",
            0,
            2**31 - 1,
            value=None,
            key="map_seed",
            help="With a seed the same data always gives the same map, but UMAP runs on one "
            "thread (about 2x slower). Either way a map is cached, so a revisit shows the same map.",
        )
    xy = dataset_projection(
        samples,
        embeddings,
        manifest["sha256"],
        fit_on_real=fit_on_real,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        seed=None if seed is None else int(seed),
    )
    points = map_points(manifest["sha256"], (fit_on_real, n_neighbors, min_dist, seed), samples, xy)
    synthetic_sets = [name for name in points["set"].cat.categories if name != "real"]

    top = st.columns([1, 2, 1.4])
    color_by = top[0].selectbox("Colour by", ["set", "source", "method", "generation", "label"], key="map_color")
    shown_sets = top[1].multiselect(
        "Synthetic sets shown",
        synthetic_sets,
        default=synthetic_sets,
        key="map_sets",
        help="Methods and recursive generations (g2, g3, …). Real samples are always shown.",
    )
    density_choice = top[2].selectbox(
        "Density layer",
        ["synthetic − real", "real", "synthetic", "none"],
        key="map_density",
        help="Binned density of the real samples and of the chosen synthetic sets, over the points. "
        "'synthetic − real': red cells hold more synthetic than real (synthetic piles up), "
        "blue cells more real than synthetic (synthetic rarely goes).",
    )
    toggles = st.columns(2)
    mark_gaps = toggles[0].toggle(
        "Mark the real regions the shown sets miss",
        key="map_gaps",
        help="The named gaps of Tail coverage and the report: a region of the real data is a gap of a set when "
        "the set holds far less of it than real data of the same size does (occupancy; see Tail coverage for the "
        "rule). The real samples of every region that is a gap of a shown set are ringed. No holdout is needed, "
        "so this works at a few hundred real samples. It is the one definition of a gap on every page: Tail "
        "coverage, Method comparison, the report and the gate say the same regions.",
    )

    visible_mask = ((points["source"] == "real") | points["set"].isin(shown_sets)).to_numpy()
    visible = points[visible_mask]
    zoom = st.session_state.get("map_zoom")
    extent = zoom if zoom is not None else mapview.Extent.of(points["x"].to_numpy(), points["y"].to_numpy())
    in_view = extent.contains(visible["x"].to_numpy(), visible["y"].to_numpy())
    mode = {"synthetic − real": "difference"}.get(density_choice, density_choice)

    # Questions to the map: show one set or label (the others stay, in grey), find texts by words or by meaning.
    asks = st.columns([2.4, 1.2, 1, 1])
    focus_set = asks[0].pills(
        "Show only", ["real", *shown_sets], selection_mode="single", key="map_focus_set",
        help="Click a set to draw it in colour and every other point in grey; click it again for all.",
    )  # fmt: skip
    labels = sorted(visible["label"].astype(str).unique())
    focus_label = asks[1].selectbox(
        "Show only the label", labels, index=None, placeholder="any label", key="map_focus_label",
        help="Draw one label's samples in colour and every other point in grey.",
    )  # fmt: skip
    words = asks[2].text_input(
        "Texts containing", key="map_search", placeholder="e.g. river", help="A plain, case-insensitive substring."
    )  # fmt: skip
    meaning = asks[3].text_input(
        "Texts about", key="map_semantic", placeholder="e.g. ancient wars",
        help=f"Semantic search: the query is embedded with the dataset's model; its {SEMANTIC_HITS} nearest "
        "samples are shown.",
    )  # fmt: skip
    nearest = None
    if meaning.strip():
        query = embed([meaning.strip()])[0]
        nearest = explore.nearest_rows(embeddings, query, rows=visible["row"].to_numpy(), n=SEMANTIC_HITS)["row"]
    focus = explore.focus_mask(
        visible, samples["text"], set_name=focus_set, label=focus_label, words=words, rows=nearest
    )  # fmt: skip
    if focus is not None:
        shares = explore.selection_shares(visible, focus)
        st.caption(
            f"{int(focus.sum()):,} samples in colour, the rest in grey: "
            + "; ".join(
                f"{r.share_of_group:.1%} of {plain(r.set)} ({r.selected:,})"
                for r in shares.itertuples()
                if r.selected or r.set == "real"
            )
        )

    marked, marked_title, ringable = None, "marked", 0
    real_rows = points.index[points["source"] == "real"].to_numpy()
    synthetic_rows = visible.index[visible["source"] != "real"].to_numpy()
    if mark_gaps:
        chosen = samples[((points["source"] == "real") | points["set"].isin(shown_sets)).to_numpy()]
        gap_report, gap_note = (None, "No synthetic set is shown.") if not shown_sets else (None, "")
        if shown_sets:
            with st.spinner("Finding the regions the shown sets miss…"):
                gap_report, gap_note = dataset_gaps(samples, embeddings, manifest["sha256"], chosen, None, 0)
        if gap_report is None or gap_report.unsupported:
            reason = gap_note or (gap_report.unsupported if gap_report is not None else "")
            toggles[1].warning("Nothing is marked. " + plain(reason), icon=":material/warning:")
        else:
            missed_regions = {gap.region for gaps in gap_report.gaps.values() for gap in gaps}
            real_in_chosen = (chosen["source"] == "real").to_numpy()
            in_gap = np.isin(gap_report.region_of[real_in_chosen], sorted(missed_regions))
            missed_rows = chosen.index.to_numpy()[real_in_chosen][in_gap]
            sentences = [gap.sentence() for gaps in gap_report.gaps.values() for gap in gaps[:3]]
            toggles[1].caption(
                f"{len(missed_rows):,} real samples in {len(missed_regions)} regions the shown sets miss are ringed "
                "in black" + (": " + plain("; ".join(sentences)) + "." if sentences else " (none: no region is a gap).")
            )
            marked, ringable = mapview.ringed(points, missed_rows, samples["text"], extent)
            marked_title = "in a gap"
    if marked is not None and ringable > mapview.MARK_LIMIT:
        toggles[1].caption(
            f"{mapview.MARK_LIMIT:,} of the {ringable:,} in view are ringed (a seeded sample); "
            "zoom in to ring them all."
        )

    real_mask = (samples["source"] == "real").to_numpy()
    real_xy = np.asarray(xy)[real_mask]
    regions = map_regions(  # the regions of the named gaps (Tail coverage, the report), placed on this map
        manifest["sha256"], (fit_on_real, n_neighbors, min_dist, seed), samples["text"].to_numpy()[real_mask],
        embeddings[real_mask], samples["label"].to_numpy()[real_mask], real_xy,
    )  # fmt: skip
    names = label_positions(regions.regions, x_range=(extent.x0, extent.x1), y_range=(extent.y0, extent.y1))
    names = names[extent.contains(names["x"].to_numpy(), names["y"].to_numpy())]
    select_with = st.segmented_control(
        "Select with", ["box", "lasso"], default="box", key="map_select_with",
        help="Box: the map with hoverable points, gaps ringed and chart export. Lasso: the same image in a chart "
        "that draws free-form selections (a box too, from its tool bar); every sample inside is counted either way.",
    ) or "box"  # fmt: skip
    if select_with == "box":
        chart = mapview.points_map(
            visible, samples["text"], color_by=color_by, extent=extent, layer=mode, marked=marked,
            marked_title=marked_title, layers=[region_name_layer(names)] if len(names) else None, highlight=focus,
        )  # fmt: skip
        event = st.altair_chart(chart, on_select="rerun", key="map_chart", width="stretch")
        box = (event.get("selection") or {}).get(mapview.MAP_SELECTION) if event else None
        inside, selection_extent = explore.in_box(visible, box), mapview.Extent.of_box(box)
        drawn = (
            f"they are few enough ({mapview.POINT_LIMIT:,} at most) to be drawn as points too: hover one to read it."
            if in_view.sum() <= mapview.POINT_LIMIT
            else f"points you can hover appear when at most {mapview.POINT_LIMIT:,} are in view: zoom in."
        )
    else:  # the same image in Plotly, whose selection returns a lasso's path; it is applied to every point here
        png, colors, _, _ = mapview.map_image(visible, color_by=color_by, extent=extent, layer=mode, highlight=focus)
        figure = lasso.lasso_figure(png, extent, colors, visible, names=names, color_by=color_by)
        lassoed = st.plotly_chart(
            figure, on_select="rerun", selection_mode=("box", "lasso"), key="map_lasso", width="stretch",
            config={"displaylogo": False, "modeBarButtonsToRemove": ["zoom2d", "pan2d", "zoomIn2d", "zoomOut2d",
                                                                     "autoScale2d", "resetScale2d"]},
        )  # fmt: skip
        shapes = lassoed.selection if lassoed else None
        inside, selection_extent = explore.selection_mask(visible, shapes), lasso.selection_extent(shapes)
        drawn = (
            f"a lasso or a box counts every sample inside it (at most {lasso.LASSO_POINTS:,} go to the browser, "
            "unseen, for the lasso to catch); hover and the rings of gaps are on the box map."
        )
    st.caption(
        f"Every one of the {int(in_view.sum()):,} samples in view is drawn in the density image "
        f"({mapview.IMAGE_WIDTH}×{mapview.IMAGE_HEIGHT} pixels, rendered on the server); " + drawn
    )
    zooms = st.container(horizontal=True)
    if zooms.button(
        "Zoom to selection", icon=":material/zoom_in:", disabled=selection_extent is None, key="map_zoom_in",
        help="Redraw the map for the selection's bounding box at full resolution.",
    ):  # fmt: skip
        st.session_state["map_zoom"] = selection_extent
        st.rerun()
    if zooms.button("Whole map", icon=":material/zoom_out_map:", disabled=zoom is None, key="map_zoom_reset"):
        st.session_state["map_zoom"] = None
        st.rerun()
    by_name = {region.name: region.id for region in regions.regions}
    picked = zooms.selectbox(
        "Zoom to region", list(by_name), index=None, placeholder="Zoom to a named region", key="map_region",
        label_visibility="collapsed", help="Crop the map to the real samples of one named region.",
    )  # fmt: skip
    if picked is not None:
        members = real_xy[regions.labels == by_name[picked]]
        st.session_state["map_zoom"] = mapview.Extent.of(members[:, 0], members[:, 1], pad=0.15)
        st.session_state["map_region"] = None
        st.rerun()
    if select_with == "box":
        chart_downloads(chart, "embedding-map", key="map_export")

    # one answer for a box or a lasso: the selection's rows, each set's and label's share, its samples, its export
    selected = visible[inside]
    st.subheader("Selection")
    if selected.empty:
        st.caption(
            f"{'Drag a box' if select_with == 'box' else 'Draw a lasso'} on the map to list its samples here "
            f"(every sample in the {select_with}, not only those drawn)."
        )
    else:
        by_set, by_label = (
            explore.selection_shares(visible, inside),
            explore.selection_shares(visible, inside, by="label"),
        )
        by_set["p_fewer_than_real"] = explore.shortfall_p(by_set)
        st.caption(
            f"{len(selected):,} samples in the {select_with}. Each set's share of itself inside it (a set far below "
            f"real's share under-reaches this part of the map), its share of the {select_with}, and how likely a "
            "share this far below real's is by chance (one-sided occupancy test, as the named gaps use). A "
            f"{select_with} drawn around what the eye found is one choice among many: read a small p as a lead to "
            "check, not a finding. The named gaps on Tail coverage test regions fixed in advance and correct for "
            "their number."
        )
        share_columns = {
            "share_of_group": st.column_config.ProgressColumn(
                f"share of the set in the {select_with}", format="percent"
            ),
            "share_of_selection": st.column_config.ProgressColumn(f"share of the {select_with}", format="percent"),
            "p_fewer_than_real": st.column_config.NumberColumn(
                "p, fewer than real", format="%.2g",
                help="One-sided p-value that the set holds less of the selection than real data does "
                "(continuity-corrected two-proportion z test); empty for real.",
            ),
        }  # fmt: skip
        st.dataframe(by_set, hide_index=True, width="stretch", column_config=share_columns)
        st.dataframe(by_label[by_label["selected"] > 0], hide_index=True, width="stretch", column_config=share_columns)
        pages = max(1, -(-len(selected) // TABLE_PAGE))
        page = st.number_input(f"Page (of {pages:,}, {TABLE_PAGE} samples each)", 1, pages, 1, key="map_table_page")
        chosen = selected["row"].to_numpy()[(page - 1) * TABLE_PAGE : page * TABLE_PAGE]
        columns = ["id", "text", "source", "method", "generation", "label", "split"]
        st.dataframe(samples.iloc[chosen][columns], hide_index=True, width="stretch", height=280)
        full = samples.iloc[selected["row"].to_numpy()][columns]
        left, right = st.columns([1, 3])
        with left:
            for suffix, mime in EXPORTS:
                st.download_button(
                    f"Selection as {suffix[1:].upper()}", samples_bytes(full, suffix), f"selection{suffix}", mime,
                    key=f"map_selection{suffix.replace('.', '_')}", icon=":material/download:",
                )  # fmt: skip
        with right.form("keep_subset", clear_on_submit=True, border=False):
            name = st.text_input("Keep the selection as a named subset", placeholder="e.g. sparse science region")
            if st.form_submit_button("Keep subset", icon=":material/bookmark_add:"):
                with user_errors("Keeping the subset"):
                    workspace().save_subset(name, full["id"].astype(str).tolist())
                    st.success(
                        f"Kept {len(full):,} samples as subset '{plain(name.strip())}'; the Tail coverage and Method "
                        f"comparison pages can pick it.",
                        icon=":material/check:",
                    )

    st.subheader("Nearest synthetic samples")
    candidates = selected[selected["source"] == "real"] if not selected.empty else points.iloc[real_rows[:1]]
    lookup = st.text_input(
        "Real sample id",
        value=str(candidates["id"].iloc[0]) if len(candidates) else "",
        key="map_lookup",
        help="The first real sample of the selection, or any real sample's id.",
    )
    match = points.index[(points["id"] == lookup.strip()) & (points["source"] == "real")]
    if lookup and len(match) == 0:
        st.warning(f"No real sample has the id '{plain(lookup)}'. Copy an id from the selection table above.")
    elif len(match):
        row = int(match[0])
        st.text(samples.at[row, "text"])
        nearest = explore.nearest_synthetic(embeddings, row, synthetic_rows, n=5)
        table = samples.loc[nearest["row"], ["id", "text", "method", "generation"]].assign(
            similarity=nearest["similarity"].to_numpy()
        )
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            column_config={"similarity": st.column_config.NumberColumn("cosine similarity", format="%.3f")},
        )
