"""Text that came from outside, shown as text: never as Markdown, HTML or script.

Alert descriptions, external ids, site, team, unit and township names, catalogue entries,
finding notes, user names, audit details and anything else read from the store were
supplied by a file, a feed or a user. Streamlit renders Markdown in ``st.markdown``,
``st.caption``, ``st.info``/``warning``/``error``/``success``, ``st.toast`` and in the
labels of buttons, checkboxes, radio options, expanders, tabs and metrics (its select
boxes, ``st.text`` and data frames show plain text); Leaflet puts tooltip and popup text
into the page as HTML. So such text goes through `md` before it joins Markdown, and
through `html_text` before it joins a folium tooltip or popup.
"""

from __future__ import annotations

import html
import json
import re

from geo.app.labels import text

WORD_JOINER = "\u2060"
"""Invisible, zero-width and without a break opportunity: put between two characters it
stops Streamlit's text rewrites (below) while the visible text stays the same."""

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
# Streamlit rewrites some plain text after Markdown parsing, so backslash escapes do not
# stop them: links made of bare addresses (``http://…``, ``www.…``, ``a@b.c``), shortcodes
# (``:streamlit:``, ``:material/home:``) and typographic symbols (``--``, ``->``, ``<=``…).
_REWRITTEN = re.compile(r"(?<=:)(?=[\w/+-])|(?<=@)(?=\w)|(?<=www)(?=\.)"
                        r"|(?<=-)(?=[->])|(?<=<)(?=[-=])|(?<=[>~])(?==)", re.IGNORECASE)


def md(value: object, missing: str = "-") -> str:
    """``value`` as Markdown that shows exactly its characters.

    Parameters
    ----------
    value : object
        Any value; None, NaN and empty text show as ``missing``.
    missing : str, default "-"
        What to show for a missing value (escaped as well).

    Returns
    -------
    str
        The text with every ASCII punctuation character backslash-escaped, a word joiner
        where Streamlit would otherwise make a link, an icon or a symbol of plain text, and
        line breaks as Markdown hard breaks (blank lines and surrounding spaces dropped), so
        that no image, link, emphasis, heading, list, colour, LaTeX or HTML survives.

    Examples
    --------
    >>> print(md("**bold** ![x](p.png)"))
    \\*\\*bold\\*\\* \\!\\[x\\]\\(p\\.png\\)
    """
    raw = text(value, missing)
    lines = (line.strip() for line in raw.splitlines())
    return "  \n".join(_PUNCTUATION.sub(r"\\\1", _REWRITTEN.sub(WORD_JOINER, line))
                       for line in lines if line)


def html_text(value: object, missing: str = "-") -> str:
    """``value`` as HTML text for a folium tooltip or popup (and for Leaflet's
    ``bindTooltip``/``bindPopup`` in scripts).

    Parameters
    ----------
    value : object
        Any value; None, NaN and empty text show as ``missing``.
    missing : str, default "-"
        What to show for a missing value (escaped as well).

    Returns
    -------
    str
        The text with ``& < > " '`` as HTML character references, and also `` ` ``, ``$``
        and ``\\``: folium writes tooltip text unquoted into a JavaScript template literal,
        where those three would end it or run code.
    """
    escaped = html.escape(text(value, missing), quote=True)
    return escaped.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def script_json(value: object) -> str:
    """``value`` as JSON that can be written into an HTML ``<script>``: no ``<``, ``>`` or
    ``&`` (so no ``</script>`` inside a string ends the script) and no line separators.

    Parameters
    ----------
    value : object
        Anything `json.dumps` takes.

    Returns
    -------
    str
        The JSON text, non-ASCII characters kept.
    """
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")
            .replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
