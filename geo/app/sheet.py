"""The printable assignment sheet (交办单) of a case: one self-contained HTML page, A4, in
the user's language, that prints as it shows (``@media print``).

Pure: the case, its evidence and the names it refers to in, HTML text out; no Streamlit, no
database. Every value that came from outside (description, names, reasons, file names) is
escaped (`geo.app.safe.html_text`); the page holds no script and loads nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pandas as pd

from geo.app.labels import source_name, t, text
from geo.app.safe import html_text
from geo.app.wording import file_size, local_time
from geo.days import local_day
from geo.evidence import FORMATS

STYLE = """
@page { size: A4; margin: 16mm 15mm; }
* { box-sizing: border-box; }
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", "Source Han Serif SC", serif;
       font-size: 11pt; line-height: 1.5; color: #000; background: #fff; margin: 0; }
main { width: 180mm; margin: 0 auto; }
h1 { text-align: center; font-size: 20pt; letter-spacing: 0.3em; margin: 0 0 4mm; }
h2 { font-size: 12pt; margin: 5mm 0 2mm; }
.meta { display: flex; justify-content: space-between; font-size: 10pt; margin-bottom: 2mm; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { border: 1px solid #000; padding: 1.5mm 2mm; vertical-align: top; text-align: left;
         overflow-wrap: anywhere; }
th { width: 28mm; font-weight: bold; background: #f2f2f2; }
td.text { white-space: pre-wrap; min-height: 20mm; }
td.sign { height: 16mm; }
.hash { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 7.5pt; }
.evidence th { width: auto; }
.receipt th { width: 34mm; }
ol { margin: 0; padding-left: 5mm; }
.note { font-size: 9pt; margin-top: 3mm; }
@media screen { body { background: #eee; } main { background: #fff; padding: 12mm;
                margin: 8mm auto; box-shadow: 0 0 4px #999; width: 210mm; } }
@media print { th { background: none; } tr, table.receipt { page-break-inside: avoid; } }
"""


@dataclass(frozen=True)
class SheetNames:
    """What the sheet's codes are called: the case's responsible body, its unit and site,
    and the teams assigned to it (names with their ids; empty: none yet)."""

    body: str = ""
    unit: str = ""
    site: str = ""
    teams: Sequence[str] = field(default_factory=tuple)
    # issue 14: joint operation: the participating bodies' and the observers' names
    participants: Sequence[str] = field(default_factory=tuple)
    observers: Sequence[str] = field(default_factory=tuple)


def _row(label: str, value: str, cls: str = "") -> str:
    """One row of the case table: the label (ours) and the value (already escaped)."""
    attr = f' class="{cls}"' if cls else ""
    return f"<tr><th>{html_text(label)}</th><td{attr}>{value}</td></tr>"


def _named(name: object, code: object) -> str:
    """``name（code）``, or the code alone, escaped."""
    code_text, name_text = text(code, ""), text(name, "")
    if name_text and code_text and name_text != code_text:
        return f"{html_text(name_text)}（{html_text(code_text)}）"
    return html_text(name_text or code_text)


def assignment_sheet(case: Mapping, evidence: Sequence[Mapping], names: SheetNames, *,
                     tz: ZoneInfo, lang: str = "zh", printed_at: dt.datetime,
                     seized: Sequence[Mapping] = ()) -> str:
    """The 交办单 of a case as a print-ready HTML page.

    Parameters
    ----------
    case : Mapping
        The case as `geo.store.cases_frame` has it: ``id, external_id, source, opened_at,
        deadline_at`` (naive UTC), ``severity, status, matter_code, matter_name,
        township_code, township_name, unit_code, site_id, lon, lat`` (WGS84 degrees),
        ``reasons`` (list of text), ``body_code, description``.
    evidence : sequence of Mapping
        Its evidence (`geo.store.evidence.list_evidence`): ``name, content_type, size,
        sha256, uploaded_by, uploaded_at``.
    names : SheetNames
        Names of the body, unit, site and teams.
    tz : ZoneInfo
        The district's time zone: times are shown local.
    lang : str, default "zh"
        The language of the sheet.
    printed_at : datetime
        When it is made (naive UTC), printed on it.
    seized : sequence of Mapping, optional
        The items seized on the case (`geo.store.jointops.list_seizures`: ``item, quantity,
        unit, value_fen, note``): listed with their totals where there are any.

    Returns
    -------
    str
        A complete HTML document (UTF-8), A4, with no script.
    """
    def label(key: str) -> str:
        return t(key, lang)

    cid = text(case.get("id"))
    source = text(case.get("source"), "")
    source_label = source_name(source, lang) if source else "-"
    lon, lat = case.get("lon"), case.get("lat")
    coords = "-" if lon is None or lat is None or pd.isna(lon) or pd.isna(lat) else (
        f"{float(lon):.6f}, {float(lat):.6f}")
    reasons = [r for r in (case.get("reasons") or []) if text(r, "")]
    reason_list = ("<ol>" + "".join(f"<li>{html_text(r)}</li>" for r in reasons) + "</ol>"
                   if reasons else "-")
    teams = "、".join(html_text(n) for n in names.teams) if names.teams else html_text(
        label("sheet_no_team"))
    severity, status = text(case.get("severity"), ""), text(case.get("status"), "")
    rows = [
        _row(label("case_id"), html_text(f"#{cid}")),
        _row(label("sheet_external"), html_text(f"{source_label} · "
                                                f"{text(case.get('external_id'))}")),
        _row(label("reported_at"), html_text(local_time(case.get("opened_at"), tz))),
        _row(label("severity"), html_text(label(f"severity_{severity}") if severity
                                          else "-")
             + " · " + html_text(label(f"status_{status}") if status else "-")),
        _row(label("matter"), _named(case.get("matter_name"), case.get("matter_code"))),
        _row(label("sheet_place"), "<br>".join(
            f"{html_text(label(key))}：{value}" for key, value in (
                ("township", _named(case.get("township_name"), case.get("township_code"))),
                ("unit", _named(names.unit, case.get("unit_code"))),
                ("site", _named(names.site, case.get("site_id"))),
                ("sheet_coords", html_text(coords))))),
        _row(label("reasons"), reason_list),
        _row(label("body"), _named(names.body, case.get("body_code"))),
        _row(label("sheet_team"), teams),
        *_joint(names, lang),
        _row(label("deadline"), html_text(local_time(case.get("deadline_at"), tz))),
        _row(label("description"), html_text(case.get("description")), "text"),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'">'
        f"<title>{html_text(label('sheet_title'))} #{html_text(cid)}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f"<h1>{html_text(label('sheet_title'))}</h1>"
        f'<div class="meta"><span>{html_text(label("sheet_number"))}：'
        f"{html_text(_number(case, tz))}</span><span>{html_text(label('sheet_printed'))}："
        f"{html_text(local_time(printed_at, tz))}</span></div>"
        f'<table class="case">{"".join(rows)}</table>'
        f"{_seized(seized, lang)}"
        f"<h2>{html_text(label('evidence'))}</h2>{_evidence(evidence, tz, lang)}"
        f"<h2>{html_text(label('sheet_receipt'))}</h2>{_receipt(lang)}"
        f'<p class="note">{html_text(label("sheet_note"))}</p>'
        "</main></body></html>\n")


def _number(case: Mapping, tz: ZoneInfo) -> str:
    """The sheet's number: ``JB-<local date of the case>-<case id>``."""
    opened = case.get("opened_at")
    day = ("00000000" if opened is None or pd.isna(opened) else
           local_day(pd.Timestamp(opened), tz).strftime("%Y%m%d"))
    return f"JB-{day}-{text(case.get('id'))}"


def _evidence(evidence: Sequence[Mapping], tz: ZoneInfo, lang: str) -> str:
    if not evidence:
        return f"<p>{html_text(t('ev_none', lang))}</p>"
    head = "".join(f"<th>{html_text(t(k, lang))}</th>" for k in (
        "sheet_file", "sheet_type", "sheet_size", "sheet_uploaded"))
    rows = "".join(
        f"<tr><td>{n}</td><td>{html_text(e.get('name'))}</td>"
        f"<td>{html_text(FORMATS.get(e.get('content_type'), e.get('content_type')))}</td>"
        f"<td>{html_text(file_size(int(e.get('size') or 0)))}</td>"
        f"<td>{html_text(e.get('uploaded_by'))}<br>"
        f"{html_text(local_time(e.get('uploaded_at'), tz))}</td></tr>"
        f'<tr><td></td><td colspan="4" class="hash">SHA-256 {html_text(e.get("sha256"))}'
        "</td></tr>"
        for n, e in enumerate(evidence, start=1))
    widths = "".join(f'<col style="width:{w}">' for w in ("8mm", "72mm", "18mm", "20mm", "auto"))
    return (f'<table class="evidence"><colgroup>{widths}</colgroup><tr><th>#</th>{head}</tr>'
            f"{rows}</table>")


def _receipt(lang: str) -> str:
    def cells(key: str) -> str:
        return (f"<tr><th>{html_text(t(key, lang))}</th><td class=\"sign\"></td>"
                f"<th>{html_text(t('sheet_date', lang))}</th><td class=\"sign\"></td></tr>")

    return (f'<table class="receipt">{cells("sheet_issuer")}{cells("sheet_receiver")}'
            f"<tr><th>{html_text(t('sheet_result', lang))}</th>"
            '<td colspan="3" class="sign"></td></tr></table>')


# issue 14: joint operation
def _joint(names: SheetNames, lang: str) -> list[str]:
    """The row naming the joint operation's participating bodies and observers (none
    without an operation)."""
    if not names.participants and not names.observers:
        return []
    parts = []
    for key, who in (("jo_participants", names.participants),
                     ("jo_observers", names.observers)):
        if who:
            parts.append(f"{html_text(t(key, lang))}：" + "、".join(html_text(n) for n in who))
    return [_row(t("sheet_jo", lang), "<br>".join(parts))]


def _seized(items: Sequence[Mapping], lang: str) -> str:
    """The seized items as a table with their totals (nothing where there are none)."""
    from geo.jointops import quantity_text, totals, yuan_text

    if not items:
        return ""
    head = "".join(f"<th>{html_text(t(k, lang))}</th>" for k in (
        "jo_item", "jo_quantity", "sheet_value", "jo_note"))
    rows = "".join(
        f"<tr><td>{n}</td><td>{html_text(i.get('item'))}</td>"
        f"<td>{html_text(quantity_text(i.get('quantity')))} {html_text(i.get('unit'))}</td>"
        f"<td>{html_text(yuan_text(int(i.get('value_fen') or 0), lang))}</td>"
        f"<td>{html_text(i.get('note') or '')}</td></tr>"
        for n, i in enumerate(items, start=1))
    total = totals(items)
    quantities = "、".join(f"{quantity_text(q)} {u}" for u, q in total.by_unit.items())
    summary = t("jo_total", lang).format(lines=total.lines, quantities=quantities,
                                         value=yuan_text(total.value_fen, lang))
    widths = "".join(f'<col style="width:{w}">' for w in ("8mm", "62mm", "24mm", "48mm",
                                                          "auto"))
    return (f"<h2>{html_text(t('jo_seized', lang))}</h2>"
            f'<table class="evidence"><colgroup>{widths}</colgroup><tr><th>#</th>{head}</tr>'
            f'{rows}<tr><td></td><td colspan="4"><b>{html_text(summary)}</b></td></tr>'
            "</table>")
