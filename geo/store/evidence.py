"""Evidence attached to cases and inspection findings: the files, kept once each under
their SHA-256 in the evidence folder (``GEO_EVIDENCE_DIR``), and a row per attachment.

Whoever may read a case (or a finding's inspection) may list and download its evidence;
whoever may change it may attach to it (`geo.access.PERMISSIONS`: ``cases`` and
``inspections``). Outside the caller's scope a case or finding is as if it did not exist
(`LookupError`). What a file must be is `geo.evidence.check_file`; its name is only shown,
never used as a path. Every attachment is audited on the case (or the finding), so it is
on the case's timeline.

A file is written before its attachment is stored and is never removed when storing the
attachment fails (another upload of the same content may be using it at that moment):
`sweep` removes the files no attachment has once they are `SWEEP_AFTER` old
(``python -m geo evidence sweep``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from geo.access import Scope
from geo.evidence import Checked, EvidenceError, check_file
from geo.store import audit, in_scope, sessions
from geo.store.models import Case, Evidence, Finding, Inspection, utcnow
from geo.store.scoping import visible

#: a file no attachment has is removed by `sweep` once it was last written or found by an
#: upload this long ago (far longer than an upload takes to store its attachment)
SWEEP_AFTER = dt.timedelta(hours=1)

#: seconds after which a file a sweep moved aside and did not finish with is put back
ABANDONED_S = 600

COLUMNS = ("id", "case_id", "finding_id", "name", "content_type", "size", "sha256",
           "uploaded_by", "uploaded_at")


def file_path(folder: Path, sha256: str) -> Path:
    """Where the file of SHA-256 ``sha256`` is kept under ``folder``."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256: {sha256[:80]!r}")
    return Path(folder) / sha256[:2] / sha256


def _record(row: Evidence) -> dict:
    return {c: getattr(row, c) for c in COLUMNS}


def _target(s, scope: Scope, case_id: int | None, finding_id: int | None,
            action: str) -> tuple[str, int]:
    """(entity, id) of the case or finding evidence is attached to, if ``scope`` may
    ``action`` (read, change) it; `LookupError` outside the scope."""
    if (case_id is None) == (finding_id is None):
        raise EvidenceError("name one case or one finding", "no_target")
    if case_id is not None:
        if s.scalar(select(Case.id).where(Case.id == case_id, in_scope(scope))) is None:
            raise LookupError(f"no case {case_id}")
        if action == "change":
            scope.require("cases", "change")
        return "case", int(case_id)
    found = s.scalar(select(Finding.id).join(Inspection, Inspection.id == Finding.inspection_id)
                     .where(Finding.id == finding_id, visible(scope, "inspections")))
    if found is None:
        raise LookupError(f"no finding {finding_id}")
    if action == "change":
        scope.require("inspections", "change")
    return "finding", int(finding_id)


def _keep(folder: Path, checked: Checked, data: bytes) -> bool:
    """Write the file under its hash unless it is there already (whole: written aside, then
    renamed into place); True where it was written now. A file found there is touched, so
    that `sweep` leaves it to the attachment about to be stored."""
    path = file_path(folder, checked.sha256)
    try:
        if _sha256(path) == checked.sha256:
            os.utime(path)
            return False
    except FileNotFoundError:  # not there, or being swept: write it
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{checked.sha256}.{uuid.uuid4().hex}.part")
    try:
        with open(part, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _existing(s, entity: str, target: int, sha256: str) -> Evidence | None:
    column = Evidence.case_id if entity == "case" else Evidence.finding_id
    return s.scalar(select(Evidence).where(column == target, Evidence.sha256 == sha256))


def attach(engine: Engine, folder: Path, name: object, data: bytes, *, scope: Scope,
           max_bytes: int, case_id: int | None = None, finding_id: int | None = None
           ) -> tuple[dict, bool]:
    """Attach a file to a case or to a finding in ``scope``, by ``scope.actor``.

    Parameters
    ----------
    engine : Engine
        The store.
    folder : Path
        The evidence folder (``Settings.evidence_path``).
    name : object
        The name the file came with (cleaned, shown, never a path).
    data : bytes
        Its content.
    scope : Scope
        The caller's: may change the case (``cases``) or the finding's inspection
        (``inspections``).
    max_bytes : int
        The largest file accepted (``Settings.evidence_max_bytes``).
    case_id, finding_id : int, optional
        What to attach it to: exactly one.

    Returns
    -------
    tuple of dict and bool
        The attachment (`COLUMNS`) and whether it is new: the same content attached to the
        same case or finding again is the attachment made before (nothing is written).

    Raises
    ------
    LookupError
        The case or finding does not exist in the scope.
    AccessDeniedError
        The role may not change it.
    EvidenceError
        The file is refused (`geo.evidence.check_file`); nothing is stored.
    """
    with sessions(engine).begin() as s:
        entity, target = _target(s, scope, case_id, finding_id, "change")
    checked = check_file(name, data, max_bytes)
    try:
        with sessions(engine).begin() as s:
            before = _existing(s, entity, target, checked.sha256)
            if before is not None:
                _keep(folder, checked, data)  # put back a file lost from the folder
                return _record(before), False
            _keep(folder, checked, data)  # left to `sweep` if the attachment is not stored
            row = Evidence(case_id=target if entity == "case" else None,
                           finding_id=target if entity == "finding" else None,
                           name=checked.name, content_type=checked.content_type,
                           size=checked.size, sha256=checked.sha256,
                           uploaded_by=scope.actor, uploaded_at=utcnow())
            s.add(row)
            s.flush()
            audit(s, scope.actor, entity, str(target), "evidence", detail=json.dumps(
                {"evidence": row.id, "file": checked.name, "sha256": checked.sha256,
                 "type": checked.content_type, "size": checked.size}, ensure_ascii=False))
            return _record(row), True
    except IntegrityError:  # attached by someone else at the same moment
        with sessions(engine)() as s:
            before = _existing(s, entity, target, checked.sha256)
        if before is None:
            raise
        return _record(before), False


def sweep(engine: Engine, folder: Path, *, scope: Scope,
          older_than: dt.timedelta = SWEEP_AFTER) -> list[str]:
    """Remove from the evidence folder the files no attachment has (left by uploads whose
    attachment was not stored) and partial writes, once they are ``older_than`` old;
    audited on the evidence folder.

    Safe while uploads run: a file is first moved aside, then removed only if still no
    attachment has it and no upload touched it (`_keep`) before the move; an upload that
    looks for it after the move writes it again.

    Parameters
    ----------
    engine : Engine
        The store.
    folder : Path
        The evidence folder (``Settings.evidence_path``).
    scope : Scope
        The caller's: may sweep evidence (``evidence``, ``sweep``: an administrator).
    older_than : datetime.timedelta
        How long ago a file must have been written (or found by an upload) to be removed.

    Returns
    -------
    list of str
        The names of the files removed (a SHA-256, or a partial write's name).
    """
    scope.require("evidence", "sweep")
    cutoff = time.time() - older_than.total_seconds()
    with sessions(engine)() as s:
        used = set(s.scalars(select(Evidence.sha256).distinct()))
    removed = []
    for path in sorted(Path(folder).glob("??/*")):
        name = path.name
        if name.endswith(".sweep"):
            if _moved_before(path, time.time() - ABANDONED_S):  # by a sweep that stopped
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, path.with_name(name.split(".")[1]))  # judged next time
            continue
        if name.endswith(".part"):
            if _older(path, cutoff):
                path.unlink(missing_ok=True)
                removed.append(name)
            continue
        if name in used or not _older(path, cutoff):
            continue
        aside = path.with_name(f".{name}.{uuid.uuid4().hex}.sweep")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            continue
        with sessions(engine)() as s:
            taken = s.scalar(select(Evidence.id).where(Evidence.sha256 == name).limit(1))
        if taken is None and _older(aside, cutoff):
            aside.unlink(missing_ok=True)
            removed.append(name)
        else:  # an upload found it before the move: the same content, whoever wrote last
            os.replace(aside, path)
    if removed:
        with sessions(engine).begin() as s:
            audit(s, scope.actor, "evidence", "folder", "sweep", detail=json.dumps(
                {"removed": removed}, ensure_ascii=False))
    return removed


def _moved_before(path: Path, cutoff: float) -> bool:
    """Whether ``path`` was last renamed (or changed) before ``cutoff``."""
    try:
        return path.stat().st_ctime < cutoff
    except FileNotFoundError:
        return False


def _older(path: Path, cutoff: float) -> bool:
    """Whether ``path`` was last modified before ``cutoff`` (seconds of the epoch)."""
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def list_evidence(engine: Engine, *, scope: Scope, case_id: int | None = None,
                  finding_id: int | None = None) -> list[dict]:
    """The evidence of a case or of a finding in ``scope``, oldest first (`COLUMNS`);
    `LookupError` outside it."""
    with sessions(engine)() as s:
        entity, target = _target(s, scope, case_id, finding_id, "read")
        column = Evidence.case_id if entity == "case" else Evidence.finding_id
        return [_record(r) for r in s.scalars(select(Evidence).where(column == target)
                                             .order_by(Evidence.uploaded_at, Evidence.id))]


def missing(folder: Path, records: list[dict]) -> set[int]:
    """The ids of the attachments among ``records`` (as `list_evidence` returned them, in
    the caller's scope) whose file is not in the evidence folder or is not of their size.

    A quick look at the folder, without reading the files: `read_evidence` also checks
    each file's hash.
    """
    gone = set()
    for record in records:
        try:
            size = file_path(folder, record["sha256"]).stat().st_size
        except (OSError, ValueError):
            size = None
        if size != record["size"]:
            gone.add(record["id"])
    return gone


def read_evidence(engine: Engine, folder: Path, evidence_id: int, *, scope: Scope,
                  case_id: int | None = None, finding_id: int | None = None
                  ) -> tuple[dict, bytes]:
    """One attachment of a case or finding in ``scope`` and its file's content.

    Raises
    ------
    LookupError
        No such attachment of that case or finding in the scope, or its file is missing
        from the evidence folder or no longer has its hash.
    """
    with sessions(engine)() as s:
        entity, target = _target(s, scope, case_id, finding_id, "read")
        column = Evidence.case_id if entity == "case" else Evidence.finding_id
        row = s.scalar(select(Evidence).where(Evidence.id == evidence_id, column == target))
        if row is None:
            raise LookupError(f"{entity} {target} has no evidence {evidence_id}")
        record = _record(row)
    try:
        data = file_path(folder, record["sha256"]).read_bytes()
    except FileNotFoundError:
        raise LookupError(f"the file of evidence {evidence_id} is missing from the "
                          "evidence folder") from None
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise LookupError(f"the file of evidence {evidence_id} was changed on disk")
    return record, data
