"""改革成效 as operators read it: the reform's figures (`geo.figures.reform_figures`) and the
evaluation's decision paper (`geo.figures.decision_paper`) as named tables in the user's
language, an Excel workbook, and a print-ready HTML report (A4, ``@media print``).

Pure: tables in, tables, bytes or HTML text out; no Streamlit, no database (the page and
``python -m geo report`` share it). Every value that came from outside (names) is escaped
(`geo.app.safe.html_text`); the report holds no script and loads nothing, as the 交办单
(`geo.app.sheet`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.app.labels import source_name, t
from geo.app.safe import html_text
from geo.figures import ALL_SOURCES, DISTRICT, EvaluationRules, ReformFigures

#: the yearly figures shown, in order (columns of `geo.figures.ReformFigures.yearly`)
FIGURES = ("cases", "change", "newly_delegated", "new_matter_cases", "dormant_activated",
           "dormant_cases", "staff", "staff_change", "township_staff", "staff_share",
           "staff_moved")


def _label(column: str, lang: str) -> str:
    return t(f"rf_{column}", lang)


def percent(value) -> str:
    """``+158 %``-style text for a fraction (``-`` for none)."""
    if value is None or pd.isna(value):
        return "-"
    return f"{float(value):+.0%}".replace("%", " %")


def share_text(value) -> str:
    """``85 %``-style text for a share (``-`` for none)."""
    if value is None or pd.isna(value):
        return "-"
    return f"{float(value):.0%}".replace("%", " %")


def area_name(code: str, townships: Mapping[str, str], lang: str) -> str:
    return t("rf_district", lang) if code == DISTRICT else townships.get(code, code)


def yearly_table(figures: ReformFigures, area: str, lang: str) -> pd.DataFrame:
    """One area's figures, one row per year (numbers; shares as fractions)."""
    rows = figures.yearly[figures.yearly["township_code"] == area]
    out = pd.DataFrame({t("rf_col_year", lang): rows["year"].astype(str).to_numpy()})
    sources = sorted(c.removeprefix("cases_") for c in rows.columns if c.startswith("cases_"))
    for column in FIGURES[:2]:
        out[_label(column, lang)] = rows[column].to_numpy()
    for src in sources:
        out[source_name(src, lang)] = rows[f"cases_{src}"].to_numpy()
    for column in FIGURES[2:]:
        out[_label(column, lang)] = rows[column].to_numpy()
    if area == DISTRICT:
        out.insert(out.columns.get_loc(_label("dormant_cases", lang)) + 1,
                   _label("dormant_domains", lang), rows["dormant_domains"].to_numpy())
    return out


def townships_table(figures: ReformFigures, year: int, townships: Mapping[str, str],
                    lang: str) -> pd.DataFrame:
    """Every township (and the district last) in ``year``: the main figures."""
    rows = figures.yearly[figures.yearly["year"] == year]
    out = pd.DataFrame({t("township", lang): [area_name(c, townships, lang)
                                              for c in rows["township_code"]]})
    for column in FIGURES:
        out[_label(column, lang)] = rows[column].to_numpy()
    return out


def sources_table(figures: ReformFigures, area: str, lang: str) -> pd.DataFrame:
    """One area's new cases by source (rows) and year (columns), with the last year's
    change."""
    rows = figures.sources[figures.sources["township_code"] == area]
    wide = rows.pivot_table(index="source", columns="year", values="cases", aggfunc="sum")
    order = [s for s in wide.index if s != ALL_SOURCES] + [ALL_SOURCES]
    wide = wide.reindex(order)
    last = rows[rows["year"] == rows["year"].max()].set_index("source")["change"]
    out = pd.DataFrame({t("rf_source", lang): [
        t("rf_all_sources", lang) if s == ALL_SOURCES else source_name(s, lang)
        for s in wide.index]})
    for year in wide.columns:
        out[str(year)] = wide[year].astype(int).to_numpy()
    out[_label("change", lang)] = last.reindex(wide.index).to_numpy()
    return out


def clauses_table(figures: ReformFigures, year: int | None, townships: Mapping[str, str],
                  matters: Mapping[str, str], lang: str) -> pd.DataFrame:
    """The dormant clauses activated (in ``year``, or every year): township, matter, the
    day delegated and the first case."""
    rows = figures.clauses[figures.clauses["activated"]]
    if year is not None:
        rows = rows[rows["activated_year"] == year]
    rows = rows.sort_values(["township_code", "matter_code"])
    return pd.DataFrame({
        t("township", lang): [townships.get(c, c) for c in rows["township_code"]],
        t("matter", lang): [matters.get(m, m) for m in rows["matter_code"]],
        _label("since", lang): [d.isoformat() for d in rows["effective_from"]],
        _label("first_case", lang): pd.to_datetime(rows["first_case"]).dt.strftime(
            "%Y-%m-%d").to_numpy(),
    })


def reason_text(row: Mapping, rules: EvaluationRules, townships: Mapping[str, str],
                lang: str) -> str:
    """The reason of a decision paper row in words (``rf_reason_<reason>``)."""
    handled, returned = int(row["handled"]), int(row["returned"])
    since = row.get("effective_from")
    towns = [townships.get(c, c) for c in str(row.get("extend_to") or "").split(",") if c]
    demand = str(row.get("demand") or "").split(",")
    sep = "、" if lang == "zh" else ", "
    limit = {"returned_most": rules.take_back_returned,
             "returned_often": rules.often_returned}.get(row["reason"], 0.0)

    def days(v) -> str:
        return "-" if v is None or pd.isna(v) else f"{float(v):.1f}"

    return t(f"rf_reason_{row['reason']}", lang).format(
        since=since.isoformat() if isinstance(since, dt.date) else str(since),
        grace=rules.grace_days, handled=handled, returned=returned,
        total=handled + returned, share=share_text(row.get("returned_share")),
        limit=share_text(limit), days=days(row.get("median_days_to_close")),
        bench=days(row.get("district_median_days")), idle=rules.idle_years,
        window=int(row.get("idle_window_cases") or 0),
        towns=sep.join(f"{n}({d})" if d else n for n, d in zip(
            towns, demand + [""] * len(towns), strict=False)))


def paper_table(paper: pd.DataFrame, rules: EvaluationRules, townships: Mapping[str, str],
                matters: Mapping[str, str], lang: str) -> pd.DataFrame:
    """The decision paper named: township, matter, delegated on, handled, returned, share
    returned, median days (own and the district team's), never used, often returned, the
    suggested action, the townships to extend it to, and the reason in words."""
    yes = t("yes", lang)
    records = paper.to_dict("records")
    return pd.DataFrame({
        t("township", lang): [townships.get(c, c) for c in paper["township_code"]],
        t("matter", lang): [matters.get(m, m) for m in paper["matter_code"]],
        _label("since", lang): [d.isoformat() if isinstance(d, dt.date) else "-"
                                for d in paper["effective_from"]],
        t("handled_n", lang): paper["handled"].to_numpy(),
        t("returned_n", lang): paper["returned"].to_numpy(),
        _label("returned_share", lang): paper["returned_share"].to_numpy(),
        t("median_days", lang): paper["median_days_to_close"].round(1).to_numpy(),
        _label("district_median", lang): paper["district_median_days"].round(1).to_numpy(),
        t("never_used", lang): paper["never_used"].map({True: yes, False: ""}).to_numpy(),
        t("often_returned", lang): paper["often_returned"].map(
            {True: yes, False: ""}).to_numpy(),
        _label("action", lang): [t(f"rf_action_{a}", lang) for a in paper["action"]],
        _label("extend_to", lang): [
            ("、" if lang == "zh" else ", ").join(townships.get(c, c) for c in str(e).split(",")
                                                  if c) for e in paper["extend_to"]],
        _label("reason", lang): [reason_text(r, rules, townships, lang) for r in records],
    })


def rules_text(rules: EvaluationRules, lang: str) -> str:
    """The decision rules in words, with their thresholds."""
    return t("rf_rules_text", lang).format(
        grace=rules.grace_days, take_back=share_text(rules.take_back_returned),
        often=share_text(rules.often_returned), slow=f"{rules.slow_ratio:g}",
        min_cases=rules.extend_min_cases, max_returned=share_text(rules.extend_max_returned),
        demand=rules.extend_demand, idle=rules.idle_years)


def workbook(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """An Excel workbook (openpyxl), one sheet per table (names cut to Excel's 31
    characters)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
    return buf.getvalue()


STYLE = """
@page { size: A4 landscape; margin: 12mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", "Source Han Serif SC", serif;
       font-size: 9.5pt; line-height: 1.4; color: #000; background: #fff; margin: 0; }
main { margin: 0 auto; }
h1 { text-align: center; font-size: 18pt; letter-spacing: 0.2em; margin: 0 0 3mm; }
h2 { font-size: 12pt; margin: 5mm 0 2mm; }
.meta { display: flex; justify-content: space-between; font-size: 9pt; margin-bottom: 2mm; }
table { width: 100%; border-collapse: collapse; }
th, td { border: 1px solid #000; padding: 1mm 1.5mm; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f2f2f2; font-weight: bold; text-align: center; }
td.n { text-align: right; white-space: nowrap; }
p.note { font-size: 8.5pt; }
@media screen { body { background: #eee; } main { background: #fff; padding: 10mm;
                margin: 6mm auto; box-shadow: 0 0 4px #999; max-width: 297mm; } }
@media print { th { background: none; } tr { page-break-inside: avoid; }
               h2 { page-break-after: avoid; } }
"""


def _cell(value) -> str:
    """One table cell, escaped; numbers right-aligned, none as ``-``."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        shown = "-" if pd.isna(value) else (f"{value:g}" if isinstance(
            value, (float, np.floating)) else str(value))
        return f'<td class="n">{html_text(shown)}</td>'
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "<td>-</td>"
    return f"<td>{html_text(value)}</td>"


def html_table(frame: pd.DataFrame, changes: Sequence[str] = (),
               shares: Sequence[str] = ()) -> str:
    """A table as HTML, every value escaped; the columns named in ``changes`` shown as
    signed percentages, those in ``shares`` as percentages."""
    head = "".join(f"<th>{html_text(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            if column in changes:
                cells.append(f'<td class="n">{html_text(percent(value))}</td>')
            elif column in shares:
                cells.append(f'<td class="n">{html_text(share_text(value))}</td>')
            else:
                cells.append(_cell(value))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def report_html(title: str, sections: Sequence[tuple[str, str]], *, lang: str,
                subtitle: str, printed_at: dt.datetime, tz: ZoneInfo,
                notes: Sequence[str] = ()) -> str:
    """A print-ready report: ``title``, then each (heading, HTML table of `html_table`)
    section, then ``notes``.

    Parameters
    ----------
    title, subtitle : str
        The report's title and the line under it (the area and year), escaped here.
    sections : sequence of (str, str)
        Heading (escaped here) and body (HTML already escaped, from `html_table`).
    lang : str
        The report's language.
    printed_at : datetime
        When it is made (naive UTC), shown local.
    tz : ZoneInfo
        The district's time zone.
    notes : sequence of str
        Paragraphs of notes at the end (escaped here).

    Returns
    -------
    str
        A complete HTML document (UTF-8), A4 landscape, with no script.
    """
    made = pd.Timestamp(printed_at).tz_localize("UTC").tz_convert(tz).strftime(
        "%Y-%m-%d %H:%M")
    parts = "".join(f"<h2>{html_text(h)}</h2>{body}" for h, body in sections)
    extra = "".join(f'<p class="note">{html_text(n)}</p>' for n in notes)
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'">'
        f"<title>{html_text(title)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{html_text(title)}</h1>"
        f'<div class="meta"><span>{html_text(subtitle)}</span><span>'
        f"{html_text(t('rf_printed', lang))}：{html_text(made)}</span></div>"
        f"{parts}{extra}</main></body></html>\n")


# ---------------------------------------------------------------------- the two reports
def reform_report(figures: ReformFigures, year: int, area: str,
                  townships: Mapping[str, str], matters: Mapping[str, str], lang: str,
                  ) -> dict[str, pd.DataFrame]:
    """The reform report's tables by sheet name: the area's figures year on year, its
    sources, every township in ``year`` (the district's report only), the dormant clauses
    activated."""
    name = area_name(area, townships, lang)
    sheets = {f"{t('rf_figures', lang)}-{name}": yearly_table(figures, area, lang),
              t("rf_sources", lang): sources_table(figures, area, lang)}
    if area == DISTRICT:
        sheets[t("rf_townships", lang)] = townships_table(figures, year, townships, lang)
    clauses = clauses_table(figures, None, townships, matters, lang)
    if area != DISTRICT:
        clauses = clauses[clauses[t("township", lang)] == name]
    sheets[t("rf_clauses", lang)] = clauses
    return sheets


def reform_html(sheets: Mapping[str, pd.DataFrame], year: int, area_label: str, lang: str,
                printed_at: dt.datetime, tz: ZoneInfo) -> str:
    """`reform_report`'s tables as the print report."""
    changes = (_label("change", lang),)
    shares = (_label("staff_share", lang),)
    return report_html(t("rf_report_title", lang),
                       [(h, html_table(f, changes, shares)) for h, f in sheets.items()],
                       lang=lang, subtitle=f"{area_label} · {year}", printed_at=printed_at,
                       tz=tz, notes=[t("rf_note", lang)])


def evaluation_html(table: pd.DataFrame, rules: EvaluationRules, year: int,
                    area_label: str, lang: str, printed_at: dt.datetime, tz: ZoneInfo) -> str:
    """`paper_table`'s table as the print report, with the rules it follows."""
    return report_html(t("rf_eval_title", lang),
                       [(t("rf_evaluation", lang), html_table(
                           table, shares=(_label("returned_share", lang),)))],
                       lang=lang, subtitle=f"{area_label} · {year}", printed_at=printed_at,
                       tz=tz, notes=[f"{t('rf_rules', lang)}：{rules_text(rules, lang)}",
                                     str(asdict(rules))])
