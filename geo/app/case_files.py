"""Evidence and the assignment sheet on the pages: the files of a case or a finding with
thumbnails and download buttons, an uploader for those who may change it, and the 交办单
of a case to download and preview.

The store decides who may read and attach (`geo.store.evidence`) and what a file must be
(`geo.evidence`); the sheet is `geo.app.sheet`. File names came from outside and are shown
through `geo.app.safe.md`.
"""

from __future__ import annotations

import io
import logging
from functools import partial

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from geo.access import AccessDeniedError
from geo.app import state
from geo.app.labels import t
from geo.app.safe import md
from geo.app.sheet import SheetNames, assignment_sheet
from geo.app.wording import Names, error_text, file_size
from geo.evidence import FORMATS, TYPES
from geo.store import dispatching, jointops
from geo.store.evidence import attach, list_evidence, missing, read_evidence

log = logging.getLogger(__name__)

#: edge of a thumbnail in pixels
THUMB_PX = 240
#: pixels of a PNG or WebP photo made into a thumbnail at most (larger: shown without one;
#: drawing one takes about 5 bytes a pixel). A JPEG is drawn from a draft of an eighth of
#: its size, up to the largest photo accepted (`geo.evidence.MAX_PIXELS`).
THUMB_MAX_PIXELS = 16_000_000
#: extensions the file picker offers (what a file is, is told by its content when stored)
PICK = sorted({ext.lstrip(".") for ext in TYPES.values()} | {"jpeg"})


def evidence(page: state.Page, *, key: str, may_attach: bool, case_id: int | None = None,
             finding_id: int | None = None) -> list[dict]:
    """Show the evidence of a case or finding (each file: a thumbnail for a photo, its name,
    size, who attached it and when, a download button) and, where ``may_attach``, the
    uploader; returns the evidence shown.

    Parameters
    ----------
    page : state.Page
        The page, with the user's scope and the settings (evidence folder, size limit).
    key : str
        Prefix of the widgets' keys (one per case or finding shown).
    may_attach : bool
        Offer the uploader (the store checks again).
    case_id, finding_id : int, optional
        Whose evidence: exactly one.
    """
    target = {"case_id": case_id, "finding_id": finding_id}
    for kind, message in st.session_state.pop(f"{key}_notice", []):
        {"success": st.success, "warning": st.warning}.get(kind, st.error)(message)
    try:
        records = list_evidence(page.engine, scope=page.scope, **target)
    except (LookupError, PermissionError) as exc:
        st.info(error_text(exc, page.lang))
        return []
    if not records:
        st.caption(t("ev_none", page.lang))
    gone = missing(page.settings.evidence_path, records)
    for record in records:
        _one(page, record, key, target, record["id"] in gone)
    if may_attach:
        round_ = st.session_state.get(f"{key}_round", 0)
        files_key = f"{key}_files_{round_}"
        st.file_uploader(t("ev_files", page.lang).format(
            limit=file_size(page.settings.evidence_max_bytes)), type=PICK,
            accept_multiple_files=True, key=files_key,
            max_upload_size=max(1, int(page.settings.evidence_max_mb + 0.999)))
        st.button(t("ev_upload", page.lang), key=f"{key}_upload", on_click=_upload,
                  kwargs={"page": page, "key": key, "files_key": files_key, **target})
    return records


def _one(page: state.Page, record: dict, key: str, target: dict, gone: bool) -> None:
    """One file of the evidence: thumbnail, name and facts, download button (disabled, and
    the file said to be missing, where it is ``gone`` from the evidence folder)."""
    lang = page.lang
    load = partial(_content, page, record["id"], target)
    c1, c2, c3 = st.columns([1, 4, 1], vertical_alignment="center")
    thumb = None
    if not gone and record["content_type"].startswith("image/"):
        try:
            thumb = _thumbnail(record["sha256"], load)
        except LookupError:  # gone since it was listed: not cached, tried again next time
            gone = True
    if thumb is not None:
        c1.image(thumb, width=120)
    else:
        c1.markdown(f"`{FORMATS.get(record['content_type'], '?')}`")
    at = pd.Timestamp(record["uploaded_at"]).tz_localize("UTC").tz_convert(page.tz)
    c2.markdown(f"**{md(record['name'])}**  \n" + t("ev_meta", lang).format(
        size=file_size(record["size"]), who=md(record["uploaded_by"]),
        at=f"{at:%Y-%m-%d %H:%M}") + (f"  \n:red[{t('ev_missing', lang)}]" if gone else ""))
    c3.download_button(t("ev_missing" if gone else "ev_download", lang),
                       data=b"" if gone else load, file_name=record["name"],
                       mime=record["content_type"], key=f"{key}_dl_{record['id']}",
                       on_click="ignore", disabled=gone)


def _content(page: state.Page, evidence_id: int, target: dict) -> bytes:
    """The file of one attachment, read in the user's scope (`LookupError` where it is gone
    or changed on disk)."""
    return read_evidence(page.engine, page.settings.evidence_path, evidence_id,
                         scope=page.scope, **target)[1]


@st.cache_data(max_entries=512, show_spinner=False)
def _thumbnail(sha256: str, _load) -> bytes | None:
    """A small PNG of the photo of hash ``sha256`` (read by ``_load`` the first time), or
    None where it cannot be drawn (a broken image, or a PNG or WebP of more than
    `THUMB_MAX_PIXELS`). Where ``_load`` fails (`LookupError`: the file is gone) nothing
    is cached."""
    from PIL import Image

    data = _load()
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "JPEG" and img.width * img.height > THUMB_MAX_PIXELS:
                return None
            img.draft("RGB", (THUMB_PX, THUMB_PX))
            img.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            img.convert("RGB").save(out, "PNG")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return out.getvalue()


def _upload(page: state.Page, key: str, files_key: str, case_id: int | None,
            finding_id: int | None) -> None:
    """Attach the files chosen in the uploader (a callback), keep what happened to each for
    the next run to show, and start a new, empty uploader."""
    lang, got = page.lang, st.session_state
    files = got.get(files_key) or []
    if not files:
        got[f"{key}_notice"] = [("warning", t("ev_pick_first", lang))]
        return
    said = []
    for f in files:
        try:
            record, created = attach(
                page.engine, page.settings.evidence_path, f.name, f.getvalue(),
                scope=page.scope, max_bytes=page.settings.evidence_max_bytes,
                case_id=case_id, finding_id=finding_id)
        except (ValueError, LookupError, AccessDeniedError) as exc:
            said.append(("error", t("ev_refused", lang).format(
                file=md(f.name), why=error_text(exc, lang))))
            continue
        except (OSError, SQLAlchemyError):  # a broken or full folder, the database down
            log.exception("evidence %r not saved", f.name)
            said.append(("error", t("ev_refused", lang).format(
                file=md(f.name), why=t("ev_save_failed", lang))))
            continue
        said.append(("success" if created else "warning", t(
            "ev_saved" if created else "ev_already", lang).format(file=md(record["name"]))))
    got[f"{key}_notice"] = said
    got[f"{key}_round"] = got.get(f"{key}_round", 0) + 1


def sheet(page: state.Page, case: pd.Series, records: list[dict], names: Names) -> None:
    """The case's 交办单: a download button (HTML, prints as A4) and a preview.

    Parameters
    ----------
    page : state.Page
        The page.
    case : pandas.Series
        The case (a row of `geo.store.cases_frame`).
    records : list of dict
        Its evidence.
    names : Names
        Names of bodies and teams.
    """
    from geo.store import utcnow

    lang, cid = page.lang, int(case["id"])
    units = _names(state.layers(page.url, page.version, state.REFERENCE).units, "code")
    sites = _names(state.layers(page.url, page.version, page.scope).sites, "site_id")
    done = dispatching.assignments_of(page.engine, cid, scope=page.scope)
    active = [a for a in done if a.status in dispatching.ACTIVE] or done[-1:]
    teams = [f"{names.teams.get(a.team_id, a.team_id)}（{a.team_id}）"
             if a.team_id in names.teams else a.team_id for a in active]
    op = jointops.operation(page.engine, cid, scope=page.scope)  # issue 14: joint operation
    html = assignment_sheet(
        case.to_dict(), records, SheetNames(
            body=names.bodies.get(str(case["body_code"]), ""),
            unit=units.get(str(case["unit_code"]), ""),
            site=sites.get(str(case["site_id"]), ""), teams=teams,
            participants=[p["name"] for p in op["participants"]],
            observers=[o["name"] for o in op["observers"]]),
        tz=page.tz, lang=lang, printed_at=utcnow(), seized=op["items"])
    st.download_button(t("sheet_download", lang), data=html.encode("utf-8"),
                       file_name=f"{t('sheet', lang)}-{cid}.html", mime="text/html",
                       key=f"d_sheet_{cid}", on_click="ignore", icon=":material/print:")
    with st.expander(t("sheet_preview", lang)):
        # every outside text in it is escaped, and its policy lets nothing run or load
        st.iframe(html, height=900)


def _names(layer, key: str) -> dict[str, str]:
    """Names by code of a layer (none without the layer)."""
    return {} if layer is None else dict(zip(layer[key], layer["name"], strict=True))
