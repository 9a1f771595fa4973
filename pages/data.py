"""Data: upload files, check and edit their mapping, load them as a new dataset version; presets; datasets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis import ingest, pipeline, presets, store
from analysis.errors import IngestError, LoanFlowError
from analysis.schema import REQUIRED, TABLES
from pages.common import ui

COMMON_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "gbk", "big5", "cp1252", "latin-1")
TABLE_CHOICES = (*TABLES, "statements")
SKIP = ""

ctx = ui.start_page()
st.title(ui.t("data.title"))
state = st.session_state
state.setdefault("uploads", [])  # [{"name", "sha", "data"}] of the last "Read files"
state.setdefault("mapping_base", {})  # (sha, table) -> mapping the editor starts from
state.setdefault("mapping_gen", 0)  # bumped when a preset replaces the editors' contents
state.setdefault("loaded_tokens", {})  # load token -> dataset_id: the same upload is never imported twice

flash = state.pop("data_flash", None)
if flash:
    getattr(st, flash[0])(flash[1])


@st.cache_data(show_spinner=False, max_entries=32)
def _read(_data: bytes, sha: str, name: str, encoding: str | None) -> ingest.RawTable:
    # keyed by the content hash: the bytes themselves are not hashed on every rerun
    try:
        return ingest.read_table(_data, file=name, encoding=encoding)
    except LoanFlowError:
        raise
    except Exception as error:  # noqa: BLE001 - a file nobody foresaw gets a message naming it, not a traceback
        raise IngestError(f"cannot read this file ({type(error).__name__}: {error})", file=name) from error


def _sid(upload: dict) -> str:
    """Return the widget-key id of an upload: two files with the same bytes but different names get their own."""
    return hashlib.sha256(f"{upload['name']}\0{upload['sha']}".encode()).hexdigest()[:12]


def _delimiter_text(delimiter: str | None) -> str:
    return {"\t": "TAB", None: "–", " ": "SPACE"}.get(delimiter, delimiter or "–")


def _mapped_required(table: str, mapping: dict[str, str]) -> list[str]:
    """Return the required columns of `table` that no file column is mapped to."""
    targets = set(mapping.values())
    required = REQUIRED.get(table, ())
    if table == "statements":
        return [c for c in ("account", "ts") if c not in targets] + (
            [] if targets & {"amount", "amount_cents", "debit", "debit_cents", "credit", "credit_cents"} else ["amount"])
    return [c.removesuffix("_cents") for c in required
            if c not in targets and not (c.endswith("_cents") and c[:-6] in targets)]


def show_report(report: ingest.QualityReport) -> None:
    st.subheader(ui.t("data.report.header"))
    cols = st.columns(4)
    cols[0].metric(ui.t("data.report.rows_read"), f"{report.rows_read:,}", border=True)
    cols[1].metric(ui.t("data.report.rows_loaded"), f"{report.rows_loaded:,}", border=True)
    cols[2].metric(ui.t("data.report.rejected"), f"{report.rows_rejected:,}", border=True)
    cols[3].metric(ui.t("data.report.duplicates"), f"{report.duplicates_removed:,}", border=True)
    st.caption(ui.plain(report.summary_text()))
    for note in report.notes:
        st.caption(ui.plain(note))
    if len(report.rejected):
        st.markdown(f"**{ui.t('data.report.rejected_rows')}**")
        st.dataframe(report.rejected, hide_index=True, height=min(400, 40 + 35 * len(report.rejected)))
    else:
        st.success(ui.t("data.report.none_rejected"))
    if len(report.warnings):
        st.markdown(f"**{ui.t('data.report.warnings')}**")
        st.dataframe(report.warnings, hide_index=True, height=min(300, 40 + 35 * len(report.warnings)))
    missing = report.missing[report.missing["missing"] > 0] if len(report.missing) else report.missing
    if len(missing):
        with st.expander(ui.t("data.report.missing")):
            st.dataframe(missing, hide_index=True)


tab_upload, tab_presets, tab_datasets = st.tabs(
    [f"📤 {ui.t('data.upload.header')}", f"🏦 {ui.t('data.preset.header')}", f"🗃️ {ui.t('data.datasets.header')}"])

# --- upload -----------------------------------------------------------------------------------------
with tab_upload:
    with st.form("upload_form"):
        uploaded = st.file_uploader(ui.t("data.upload.files"), type=["csv", "tsv", "txt", "xlsx", "xls"],
                                    accept_multiple_files=True, help=ui.t("data.upload.help"), key="data_files")
        read_clicked = st.form_submit_button(ui.t("data.upload.read"), type="primary", icon="📥")
    if read_clicked:
        # the same file picked twice is read once; identical bytes under two names stay two entries
        picked = {(f.name, hashlib.sha256(f.getvalue()).hexdigest()): f for f in (uploaded or [])}
        state["uploads"] = [{"name": name, "data": f.getvalue(), "sha": sha} for (name, sha), f in picked.items()]
    uploads = state["uploads"]
    if not uploads:
        st.info(ui.t("data.upload.none"))

    plans: dict[str, tuple[str, dict[str, str]]] = {}  # file name -> (table, mapping), files not skipped
    encodings: dict[str, str] = {}
    for up in uploads:
        name, sha, sid = up["name"], up["sha"], _sid(up)
        with st.expander(f"📄 {ui.plain(name)}", expanded=True):
            try:
                detected = _read(up["data"], sha, name, None)
            except LoanFlowError as error:
                ui.show_error(error)
                continue
            options = list(dict.fromkeys([detected.encoding, *detected.encoding_candidates, *COMMON_ENCODINGS]))
            guessed = ingest.guess_table(list(detected.frame.columns))
            table_key = f"data_table_{sid}"
            if table_key not in state:
                state[table_key] = guessed or SKIP
            top = st.columns([1.2, 0.8, 0.8, 1.5])
            encoding = top[0].selectbox(ui.t("data.file.encoding"), options, key=f"data_enc_{sid}",
                                        help=ui.t("data.file.encoding_help"),
                                        disabled=detected.sheet is not None or detected.delimiter is None)
            try:
                raw = detected if encoding == detected.encoding else _read(up["data"], sha, name, encoding)
            except LoanFlowError as error:
                ui.show_error(error)
                continue
            if raw.sheet is not None:
                top[1].text_input(ui.t("data.file.sheet"), raw.sheet, disabled=True, key=f"data_sheet_{sid}")
            else:
                top[1].text_input(ui.t("data.file.delimiter"), _delimiter_text(raw.delimiter), disabled=True,
                                  key=f"data_delim_{sid}")
            top[2].text_input(ui.t("data.file.rows"), f"{raw.rows_read:,}", disabled=True, key=f"data_rows_{sid}")
            table = top[3].selectbox(ui.t("data.file.table"), [*TABLE_CHOICES, SKIP], key=table_key,
                                     help=ui.t("data.file.table_help"),
                                     format_func=lambda v: v if v else ui.t("data.file.skip"))
            if table == SKIP:
                st.dataframe(raw.frame.head(10), hide_index=True)
                continue
            columns = list(raw.frame.columns)
            base = state["mapping_base"].get((sha, table)) or ingest.suggest_mapping(columns, table)
            editor = pd.DataFrame({"file_column": columns, "canonical": [base.get(c) for c in columns]})
            st.markdown(f"**{ui.t('data.file.mapping')}**")
            edited = st.data_editor(
                editor, hide_index=True, num_rows="fixed", key=f"data_map_{sid}_{table}_{state['mapping_gen']}",
                column_config={
                    "file_column": st.column_config.TextColumn(ui.t("data.file.file_column"), disabled=True),
                    "canonical": st.column_config.SelectboxColumn(ui.t("data.file.canonical"),
                                                                  options=ingest.mapping_targets(table),
                                                                  help=ui.t("data.file.mapping_help")),
                })
            mapping = {str(r.file_column): str(r.canonical) for r in edited.itertuples(index=False)
                       if isinstance(r.canonical, str) and r.canonical}
            missing = _mapped_required(table, mapping)
            if missing:
                st.warning(ui.t("data.file.missing_required", columns=", ".join(missing)))
            st.markdown(f"**{ui.t('data.file.preview')}**")
            st.dataframe(raw.frame.head(20), hide_index=True)
            plans[name] = (table, mapping)
            encodings[name] = raw.encoding

    if uploads:
        # mapping presets: {table: {file column: canonical}}, applied to files by their table
        st.subheader(ui.t("data.presets.header"))
        saved = store.load_mapping_presets(path=ctx.db)
        left, right = st.columns(2)
        with left:
            preset_name = st.text_input(ui.t("data.presets.name"), key="data_preset_name")
            if st.button(ui.t("data.presets.save"), key="data_preset_save", disabled=not plans, icon="💾"):
                spec: dict[str, dict[str, str]] = {}
                for table, mapping in plans.values():
                    spec.setdefault(table, {}).update(mapping)
                try:
                    store.save_mapping_preset(preset_name, spec, path=ctx.db)
                except LoanFlowError as error:
                    ui.show_error(error)
                else:
                    st.success(ui.t("data.presets.saved", name=ui.plain(preset_name.strip())))
                    saved = store.load_mapping_presets(path=ctx.db)
        with right:
            if saved:
                chosen = st.selectbox(ui.t("data.presets.choose"), list(saved), key="data_preset_choice")

                def apply_preset(preset: str) -> None:
                    spec = saved[preset]
                    applied = 0
                    for up in state["uploads"]:
                        try:
                            columns = list(_read(up["data"], up["sha"], up["name"], None).frame.columns)
                        except LoanFlowError:
                            continue
                        current_table = state.get(f"data_table_{_sid(up)}") or None
                        scores = {tb: sum(c in columns for c in m) for tb, m in spec.items() if tb in TABLE_CHOICES}
                        target = current_table if scores.get(current_table or "", 0) > 0 else \
                            max(scores, key=scores.get, default=None)
                        if target is None or scores.get(target, 0) == 0:
                            continue
                        state[f"data_table_{_sid(up)}"] = target
                        state["mapping_base"][(up["sha"], target)] = {c: v for c, v in spec[target].items()
                                                                       if c in columns}
                        applied += 1
                    state["mapping_gen"] += 1
                    state["data_flash"] = ("success", ui.t("data.presets.applied", name=ui.plain(preset), n=applied))

                st.button(ui.t("data.presets.apply"), key="data_preset_apply", on_click=apply_preset, args=(chosen,),
                          icon="📋")
            else:
                st.caption(ui.t("data.presets.none"))

        st.subheader(ui.t("data.load.header"))
        default_name = Path(uploads[0]["name"]).stem if len(uploads) == 1 else "upload"
        dataset_name = st.text_input(ui.t("data.load.name"), value=default_name, key="data_dataset_name")
        if st.button(ui.t("data.load.button"), type="primary", key="data_load", icon="🚀"):
            files = [(up["name"], up["data"]) for up in uploads if up["name"] in plans]
            token = hashlib.sha256(json.dumps(
                {"files": sorted(up["sha"] for up in uploads if up["name"] in plans),
                 "plans": {up["sha"]: plans[up["name"]] for up in uploads if up["name"] in plans},
                 "encodings": {up["sha"]: encodings.get(up["name"]) for up in uploads}},
                sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            existing = ui.datasets(ctx.db)
            previous = state["loaded_tokens"].get(token)
            if not files:
                st.warning(ui.t("data.load.nothing_mapped"))
            elif previous is not None and previous in set(existing["dataset_id"]):
                row = existing[existing["dataset_id"] == previous].iloc[0]
                st.info(ui.t("data.load.already", name=ui.plain(row["name"]), version=row["version"]))
            else:
                try:
                    with st.spinner(ui.t("data.load.loading", n=len(files))):
                        dataset_id, report = pipeline.load_into_store(files, name=dataset_name, path=ctx.db,
                                                                      mappings=plans, encodings=encodings)
                except LoanFlowError as error:
                    ui.show_error(error)
                except Exception as error:  # noqa: BLE001 - input nobody foresaw: a message, never a traceback
                    ui.show_error(LoanFlowError(f"{type(error).__name__}: {error}"))
                else:
                    state["loaded_tokens"][token] = dataset_id
                    info = store.dataset_info(dataset_id, path=ctx.db)
                    state["data_report"] = report
                    state["data_flash"] = ("success", ui.t("data.load.done", name=ui.plain(info["name"]),
                                                           version=info["version"]))
                    ui.set_dataset(dataset_id)
                    st.rerun()  # the sidebar picker is drawn before this page: redraw it with the new version

    if state.get("data_report") is not None:
        show_report(state["data_report"])

# --- real-data presets ------------------------------------------------------------------------------
with tab_presets:
    state.setdefault("data_real_dir", str(ui.real_data_dir()))
    typed = st.text_input(ui.t("data.preset.folder"), key="data_real_dir", help=ui.t("data.preset.folder_help"))
    real_dir = Path(typed.strip()).expanduser() if typed.strip() else ui.real_data_dir()
    if not real_dir.is_dir():
        st.info(ui.t("data.preset.missing", path=ui.plain(real_dir)))
    else:
        st.caption(ui.t("data.preset.caption", path=ui.plain(real_dir)))
        for preset, description in presets.PRESETS.items():
            folder = real_dir / presets.PRESET_FOLDERS.get(preset, preset)
            st.markdown(f"**{preset}** — {description}")
            if not folder.is_dir():
                st.caption(ui.t("data.preset.absent", path=ui.plain(folder)))
                continue
            if st.button(ui.t("data.preset.load", name=preset), key=f"data_preset_{preset}", icon="🏦"):
                token = f"preset:{preset}:{folder}"
                previous = state["loaded_tokens"].get(token)
                existing = ui.datasets(ctx.db)
                if previous is not None and previous in set(existing["dataset_id"]):
                    row = existing[existing["dataset_id"] == previous].iloc[0]
                    st.info(ui.t("data.load.already", name=ui.plain(row["name"]), version=row["version"]))
                    continue
                try:
                    with st.spinner(ui.t("data.preset.loading", name=preset)):
                        dataset_id, report = pipeline.load_preset_into_store(preset, folder, path=ctx.db)
                except LoanFlowError as error:
                    ui.show_error(error)
                else:
                    state["loaded_tokens"][token] = dataset_id
                    info = store.dataset_info(dataset_id, path=ctx.db)
                    state["data_report"] = report
                    state["data_flash"] = ("success", ui.t("data.load.done", name=info["name"],
                                                           version=info["version"]))
                    ui.set_dataset(dataset_id)
                    st.rerun()

# --- datasets -----------------------------------------------------------------------------------------
with tab_datasets:
    frame = ui.datasets(ctx.db)
    if frame.empty:
        st.info(ui.t("data.datasets.empty"))
    else:
        listing = pd.DataFrame({
            "name": frame["name"], "version": frame["version"],
            "created_at": frame["created_at"].astype(str).str.replace("T", " "),
            "rows": [", ".join(f"{k} {v:,}" for k, v in (counts or {}).items() if v) for counts in frame["row_counts"]],
            "dataset_id": frame["dataset_id"],
        })
        st.dataframe(listing, hide_index=True, column_config={
            "name": ui.t("data.datasets.name"), "version": ui.t("data.datasets.version"),
            "created_at": ui.t("data.datasets.created"), "rows": ui.t("data.datasets.rows"),
            "dataset_id": ui.t("data.datasets.id")})
        labels = {r.dataset_id: f"{r.name} v{r.version} · {r.created_at}" for r in listing.itertuples(index=False)}
        ids = list(labels)
        picked = st.selectbox(ui.t("data.datasets.pick"), ids, format_func=labels.get, key="data_ds_pick",
                              index=ids.index(ctx.dataset_id) if ctx.dataset_id in ids else 0)
        picked_name = str(frame.loc[frame["dataset_id"] == picked, "name"].iloc[0])
        left, right = st.columns(2)
        with left:
            new_name = st.text_input(ui.t("data.datasets.new_name"), value=picked_name, key=f"data_rename_{picked}")
            if st.button(ui.t("data.datasets.rename"), key="data_rename", icon="✏️"):
                try:
                    store.rename_dataset(picked_name, new_name, path=ctx.db)
                except LoanFlowError as error:
                    ui.show_error(error)
                else:
                    state["data_flash"] = ("success", ui.t("data.datasets.renamed", name=ui.plain(new_name.strip())))
                    st.rerun()
        with right:
            sure = st.checkbox(ui.t("data.datasets.confirm"), key=f"data_confirm_{picked}")
            if st.button(ui.t("data.datasets.delete"), key="data_delete", icon="🗑️"):
                if not sure:
                    st.warning(ui.t("data.datasets.confirm_first"))
                else:
                    try:
                        store.delete_dataset(picked, path=ctx.db)
                    except LoanFlowError as error:
                        ui.show_error(error)
                    else:
                        if state.get("dataset_id") == picked:
                            ui.set_dataset(None)
                        state["data_flash"] = ("success", ui.t("data.datasets.deleted"))
                        st.rerun()
