"""Evidence of a case over the API: attach a photo or document (multipart), list a case's
evidence, download one file (`/api/v1/cases/{case_id}/evidence`).

The store decides (`geo.store.evidence`): whoever may read the case lists and downloads,
whoever may change it attaches; outside the caller's scope the case is 404. A refused file
is 422 on ``body.file`` with the refusal's code as its ``type`` (``evidence_empty``,
``evidence_too_big``, ``evidence_bad_type``, ``evidence_too_many_pixels``) and nothing
is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Path, Response, UploadFile
from fastapi.exceptions import RequestValidationError

from geo.api.core import API_PREFIX, MAX_ID, aware_utc
from geo.api.resources import Svc, Who, _answers, _describe, store_errors
from geo.api.schemas import EvidenceList, EvidenceOut
from geo.evidence import FORMATS, EvidenceError
from geo.store import evidence

router = APIRouter(prefix=API_PREFIX)
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: the path of an upload, for the larger body limit it has (`geo.api.limits.BodyLimit`)
UPLOAD_PATH = rf"^{API_PREFIX}/cases/[^/]+/evidence/?$"
#: bytes a multipart body holds besides the file (boundaries, headers, the file's name)
MULTIPART_SLACK = 64 * 1024


def _out(record: dict) -> EvidenceOut:
    return EvidenceOut(**{**record, "uploaded_at": aware_utc(record["uploaded_at"])})


def _refused(exc: EvidenceError) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", "file"), "msg": str(exc),
                                    "type": f"evidence_{exc.code}", "input": ""}])


@router.post("/cases/{case_id}/evidence", response_model=EvidenceOut, status_code=201,
             responses={200: {"description": "this content was attached to the case before; "
                                             "nothing changed", "model": EvidenceOut},
                        **_answers(403, 404),
                        413: {"description": "request body over the evidence size limit"}},
             tags=["cases"],
             description=_describe(
                 "Attach a photo or document to a case (multipart/form-data, field ``file``): "
                 f"{', '.join(FORMATS.values())}, told by its content, not its name; not "
                 "empty and at most ``GEO_EVIDENCE_MAX_MB``. The file is kept once under its "
                 "SHA-256; the attachment is audited on the case's timeline.",
                 ("cases", "change")))
def attach_evidence(case_id: CaseId, file: Annotated[UploadFile, File(
        description="the photo or document")], who: Who, service: Svc,
                    response: Response) -> EvidenceOut:
    """Attach evidence to a case."""
    conf = service.settings
    data = file.file.read(conf.evidence_max_bytes + 1)
    with store_errors(("body",), "file"):
        try:
            record, created = evidence.attach(
                service.engine, conf.evidence_path, file.filename, data, scope=who.scope,
                max_bytes=conf.evidence_max_bytes, case_id=case_id)
        except EvidenceError as exc:
            raise _refused(exc) from None
    response.status_code = 201 if created else 200
    return _out(record)


@router.get("/cases/{case_id}/evidence", response_model=EvidenceList,
            responses=_answers(403, 404), tags=["cases"],
            description=_describe("The evidence of a case, oldest first.", ("cases", "read")))
def list_evidence(case_id: CaseId, who: Who, service: Svc) -> EvidenceList:
    """List a case's evidence."""
    with store_errors():
        records = evidence.list_evidence(service.engine, scope=who.scope, case_id=case_id)
    return EvidenceList(items=[_out(r) for r in records])


@router.get("/cases/{case_id}/evidence/{evidence_id}", response_class=Response,
            responses={200: {"description": "the file, as an attachment",
                             "content": {kind: {"schema": {"type": "string",
                                                           "format": "binary"}}
                                         for kind in FORMATS}},
                       **_answers(403, 404)}, tags=["cases"],
            description=_describe("Download one file of a case's evidence (404 where the "
                                  "file is missing or no longer has its SHA-256).",
                                  ("cases", "read")))
def download_evidence(case_id: CaseId, evidence_id: CaseId, who: Who, service: Svc
                      ) -> Response:
    """Download a file of a case's evidence."""
    with store_errors():
        record, data = evidence.read_evidence(service.engine, service.settings.evidence_path,
                                              evidence_id, scope=who.scope, case_id=case_id)
    return Response(data, media_type=record["content_type"], headers={
        "Content-Disposition": disposition(record["name"]),
        "X-Content-Type-Options": "nosniff", "ETag": f'"{record["sha256"]}"',
        "Last-Modified": aware_utc(record["uploaded_at"]).astimezone(dt.UTC).strftime(
            "%a, %d %b %Y %H:%M:%S GMT")})


def disposition(name: str) -> str:
    """A ``Content-Disposition`` that downloads the file under ``name``: an ASCII fallback
    and the name itself as UTF-8 (RFC 6266, RFC 5987)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\%;' else "_"
                       for c in name) or "evidence"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
