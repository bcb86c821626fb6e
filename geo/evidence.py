"""What an evidence file is: a photo (JPEG, PNG, WebP) or a PDF document, told by its
content, not by its name; not empty, not over the size limit, a photo of at most
`MAX_PIXELS` pixels; its name made safe to show.

Pure: bytes in, a `Checked` value or an `EvidenceError` (with a code and parameters, for a
page to word in the user's language) out. Where the file is kept is `geo.store.evidence`.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

#: content type -> the extension a file of that type is named with where its name has none
TYPES: dict[str, str] = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
                         "application/pdf": ".pdf"}
#: content type -> the name of the format, for people
FORMATS: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP",
                           "application/pdf": "PDF"}
#: characters of a file name kept at most (the extension included)
MAX_NAME = 120
#: pixels of a photo accepted at most (a 50-megapixel phone photo): a small file can hold
#: far more (a 7700 × 7700 PNG of one colour is 250 KB), and every pixel costs memory to draw
MAX_PIXELS = 50_000_000
#: file names Windows reserves (a name is shown and offered for download, never a path,
#: but a downloaded file named ``CON.jpg`` cannot be saved there)
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\.|$)", re.IGNORECASE)


class EvidenceError(ValueError):
    """A file refused as evidence.

    ``str(exc)`` says why in English (for logs and the API); ``code`` and ``params`` say the
    same as data, for a page to word in the user's language.

    Parameters
    ----------
    message : str
        The English explanation.
    code : str
        ``empty``; ``too_big`` (``size``, ``limit``: bytes); ``bad_type`` (``allowed``: the
        content types accepted); ``too_many_pixels`` (``limit``: pixels); ``no_target``
        (neither or both of a case and a finding).
    **params
        The values the explanation names.
    """

    def __init__(self, message: str, code: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Checked:
    """A file accepted as evidence.

    Attributes
    ----------
    name : str
        Its name, safe to show and to offer for download (`clean_name`).
    content_type : str
        What its content is (`sniff`), one of `TYPES`.
    size : int
        Bytes.
    sha256 : str
        The SHA-256 of its content, 64 lowercase hex digits: the key it is kept under.
    """

    name: str
    content_type: str
    size: int
    sha256: str


def sniff(data: bytes) -> str | None:
    """The content type of ``data`` from its first bytes (magic numbers), or None for
    anything but JPEG, PNG, WebP and PDF.

    Examples
    --------
    >>> sniff(b"%PDF-1.7 ...")
    'application/pdf'
    >>> sniff(b"<html>") is None
    True
    """
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:5] == b"%PDF-":
        return "application/pdf"
    return None


def pixels(data: bytes) -> int | None:
    """Width × height of the photo ``data`` as its header says (nothing is decoded); None
    where the header cannot be read; more than `MAX_PIXELS` where it is too large for
    Pillow even to open.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return int(img.width) * int(img.height)
    except Image.DecompressionBombError:
        return MAX_PIXELS + 1
    except (OSError, ValueError, SyntaxError):
        return None


def clean_name(name: object, content_type: str) -> str:
    """A file name safe to show and to offer for download: the last part of any path,
    without control, format or path characters, at most `MAX_NAME` characters, its
    extension kept (any space as a plain space); ``evidence`` plus the type's extension
    where nothing is left.

    Examples
    --------
    >>> clean_name("../../etc/passwd", "image/png")
    'passwd'
    >>> clean_name("C:\\\\照片\\\\现场 1.JPG", "image/jpeg")
    '现场 1.JPG'
    >>> clean_name("", "application/pdf")
    'evidence.pdf'
    """
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(" " if unicodedata.category(c)[0] == "Z" else c for c in text
                   if unicodedata.category(c)[0] != "C")
    text = re.sub(r"[<>:\"|?*]", "_", text).strip(" .")
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        text = text[:MAX_NAME - len(ext) - 1 if ext else MAX_NAME].rstrip(" .") + (
            f".{ext}" if ext else "")
    if not text or _RESERVED.match(text):
        text = f"evidence{TYPES[content_type]}" if not text else f"_{text}"
    return text


def check_file(name: object, data: bytes, max_bytes: int) -> Checked:
    """``data`` as evidence named ``name``, or why not.

    Parameters
    ----------
    name : object
        The name the file came with (anything: it is only cleaned and shown).
    data : bytes
        Its content.
    max_bytes : int
        The largest size accepted, in bytes.

    Returns
    -------
    Checked

    Raises
    ------
    EvidenceError
        ``empty``, ``too_big``, ``bad_type`` or ``too_many_pixels`` (checked in that
        order).
    """
    size = len(data)
    if size == 0:
        raise EvidenceError("the file is empty", "empty")
    if size > max_bytes:
        raise EvidenceError(f"the file is {size} bytes, over the limit of {max_bytes}",
                            "too_big", size=size, limit=max_bytes)
    content_type = sniff(data)
    if content_type is None:
        raise EvidenceError("the file is not a JPEG, PNG or WebP photo or a PDF document "
                            "(told by its content, not its name)", "bad_type",
                            allowed=tuple(TYPES))
    if content_type.startswith("image/") and (pixels(data) or 0) > MAX_PIXELS:
        raise EvidenceError(f"the photo has more than {MAX_PIXELS} pixels", "too_many_pixels",
                            limit=MAX_PIXELS)
    return Checked(clean_name(name, content_type), content_type, size,
                   hashlib.sha256(data).hexdigest())
