"""Evidence: what a file must be (told by its content), and the store on SQLite and PostGIS:
scope (read to list and download, change to attach), each content kept once, refusals that
store nothing, and the attachment on the case's timeline and the finding's record."""

import hashlib
import json
import os
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.app.wording import Names, describe, error_text, file_size
from geo.evidence import MAX_NAME, MAX_PIXELS, EvidenceError, check_file, clean_name, sniff
from geo.store import evidence as evidence_store
from geo.store.evidence import attach, file_path, list_evidence, read_evidence, sweep
from geo.store.models import AuditLog, Evidence
from tests import test_permissions
from tests.conftest import CODE_A, CODE_B

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
LIMIT = 4096


def huge(kind: str = "PNG", side: int = 8000) -> bytes:
    """A small file of a one-colour ``side`` × ``side`` photo (64 MP by default)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    if kind == "PNG":
        Image.new("1", (side, side)).save(out, kind)
    else:
        Image.new("RGB", (side, side)).save(out, kind, lossless=True)
    return out.getvalue()
TOWNSHIP_A = Scope("township", township=CODE_A, actor="staff-a")
TOWNSHIP_B = Scope("township", township=CODE_B, actor="staff-b")
PLANNER = Scope("planner", actor="planner")


# ------------------------------------------------------------------ the file check
@pytest.mark.parametrize(("data", "kind"), [(JPEG, "image/jpeg"), (PNG, "image/png"),
                                            (WEBP, "image/webp"), (PDF, "application/pdf")])
def test_the_type_is_told_by_the_content(data, kind):
    assert sniff(data) == kind
    got = check_file("whatever.txt", data, LIMIT)
    assert (got.content_type, got.size, got.sha256) == (
        kind, len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("data", [b"<html><script>alert(1)</script>", b"GIF89a....",
                                  b"PK\x03\x04zip", b"RIFF\x00\x00\x00\x00WAVE", b"\xff\xd8"])
def test_other_content_is_refused_whatever_its_name(data):
    with pytest.raises(EvidenceError) as err:
        check_file("现场.jpg", data, LIMIT)
    assert err.value.code == "bad_type"


def test_empty_and_too_big_are_refused_with_their_codes():
    with pytest.raises(EvidenceError) as err:
        check_file("a.jpg", b"", LIMIT)
    assert err.value.code == "empty"
    with pytest.raises(EvidenceError) as err:
        check_file("a.jpg", JPEG + b"\x00" * LIMIT, LIMIT)
    assert err.value.code == "too_big"
    assert err.value.params == {"size": len(JPEG) + LIMIT, "limit": LIMIT}
    assert check_file("a.jpg", JPEG[:LIMIT], LIMIT).size == min(len(JPEG), LIMIT)


@pytest.mark.parametrize(("name", "clean"), [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\x\\现场 照片.JPG", "现场 照片.JPG"),
    ("a\x00b\nc\u202eexe.jpg", "abcexe.jpg"), ("  ..  ", "evidence.png"),
    ("CON.png", "_CON.png"), ('a<b>:"c"|?*.png', "a_b___c____.png"), (None, "evidence.png"),
    ("照片\u3000一.png", "照片 一.png")])
def test_names_are_cleaned(name, clean):
    assert clean_name(name, "image/png") == clean


@given(st.text(max_size=400))
def test_a_cleaned_name_is_never_a_path_and_never_long(name):
    got = clean_name(name, "application/pdf")
    assert got and len(got) <= MAX_NAME
    assert "/" not in got and "\\" not in got and got not in (".", "..")
    assert not any(ord(c) < 32 or ord(c) == 127 for c in got)


def test_refusals_read_in_the_users_language():
    too_big = EvidenceError("x", "too_big", size=25 * 2**20, limit=20 * 2**20)
    assert error_text(too_big, "zh") == "文件大小 25.0 MB，超过上限 20.0 MB。"
    assert "over the limit of 20.0 MB" in error_text(too_big, "en")
    assert "JPEG、PNG、WebP、PDF" in error_text(EvidenceError("x", "bad_type"), "zh")
    assert error_text(EvidenceError("x", "empty"), "zh") == "文件为空。"
    assert error_text(EvidenceError("x", "too_big", size=20_000, limit=10_240), "zh") == (
        "文件大小 20 KB，超过上限 10 KB。")
    assert [file_size(n) for n in (0, 10, 56_000, 3 * 2**20)] == ["0 KB", "1 KB", "55 KB",
                                                                  "3.0 MB"]
    pixels = EvidenceError("x", "too_many_pixels", limit=MAX_PIXELS)
    assert error_text(pixels, "zh") == "照片像素过多（上限 5000 万像素），请缩小后再上传。"
    assert "at most 50 megapixels" in error_text(pixels, "en")


@pytest.mark.parametrize("kind", ["PNG", "WEBP"])
def test_a_photo_of_too_many_pixels_is_refused_from_its_header(kind):
    data = huge(kind)
    assert len(data) < 20_000  # small as a file: 64 MP of one colour
    with pytest.raises(EvidenceError) as err:
        check_file("big.png", data, 10 * 2**20)
    assert (err.value.code, err.value.params) == ("too_many_pixels", {"limit": MAX_PIXELS})
    with pytest.raises(EvidenceError, match="pixels"):  # beyond what Pillow opens at all
        check_file("bomb.png", huge("PNG", 20_000), 10 * 2**20)
    assert check_file("ok.png", huge(kind, 4000), 10 * 2**20).content_type.startswith("image/")
    assert check_file("odd.png", PNG, LIMIT).content_type == "image/png"  # header unreadable


# ------------------------------------------------------------------ the store
#: the small district of the permission tests (on SQLite and PostGIS): cases A (township A)
#: and B (township B), a problem found at S1 (A) and one at S2 (B)
district = test_permissions.db


@pytest.fixture
def db(district):
    """``(engine, ids)``: the case ids by external id and the finding ids by site."""
    engine, ids, findings = district
    return engine, {**ids, **findings}


def stored(engine, folder) -> tuple[int, list]:
    with store.sessions(engine)() as s:
        rows = s.scalar(select(func.count()).select_from(Evidence))
    return rows, sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_attach_list_and_download_a_case_photo(db, tmp_path):
    engine, ids = db
    folder = tmp_path / "evidence"
    record, created = attach(engine, folder, "../现场.jpg", JPEG, scope=TOWNSHIP_A,
                             max_bytes=LIMIT, case_id=ids["A"])
    assert created
    assert (record["name"], record["content_type"], record["size"], record["uploaded_by"]) == (
        "现场.jpg", "image/jpeg", len(JPEG), "staff-a")
    sha = hashlib.sha256(JPEG).hexdigest()
    assert record["sha256"] == sha
    assert file_path(folder, sha).read_bytes() == JPEG
    assert [r["id"] for r in list_evidence(engine, scope=TOWNSHIP_A, case_id=ids["A"])] == [
        record["id"]]
    got, data = read_evidence(engine, folder, record["id"], scope=PLANNER, case_id=ids["A"])
    assert data == JPEG and got == record
    # on the case's timeline, in words
    (entry,) = [e for e in store.case_timeline(engine, ids["A"], scope=SYSTEM)
                if e.action == "evidence"]
    assert entry.actor == "staff-a"
    assert json.loads(entry.detail)["sha256"] == sha
    assert describe(entry, "zh", Names()) == "staff\\-a：上传证据 现场\\.jpg"


def test_the_same_content_is_stored_once(db, tmp_path):
    engine, ids = db
    folder = tmp_path / "evidence"
    first, _ = attach(engine, folder, "a.jpg", JPEG, scope=SYSTEM, max_bytes=LIMIT,
                      case_id=ids["A"])
    again, created = attach(engine, folder, "b.jpg", JPEG, scope=SYSTEM, max_bytes=LIMIT,
                            case_id=ids["A"])
    assert not created and again == first  # the same case: the attachment made before
    other, created = attach(engine, folder, "c.jpg", JPEG, scope=SYSTEM, max_bytes=LIMIT,
                            case_id=ids["B"])
    assert created and other["id"] != first["id"]
    assert stored(engine, folder) == (2, [first["sha256"]])  # two rows, one file
    with store.sessions(engine)() as s:
        audits = s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "evidence"))
    assert audits == 2


@pytest.mark.parametrize(("data", "code"), [(b"", "empty"), (b"<svg onload=x>", "bad_type"),
                                            (JPEG + b"\x00" * LIMIT, "too_big")])
def test_a_refused_file_stores_nothing(db, tmp_path, data, code):
    engine, ids = db
    folder = tmp_path / "evidence"
    with pytest.raises(EvidenceError) as err:
        attach(engine, folder, "x.jpg", data, scope=TOWNSHIP_A, max_bytes=LIMIT,
               case_id=ids["A"])
    assert err.value.code == code
    assert stored(engine, folder) == (0, [])
    with store.sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "evidence")) == 0


def test_another_townships_case_is_as_if_it_did_not_exist(db, tmp_path):
    engine, ids = db
    folder = tmp_path / "evidence"
    theirs, _ = attach(engine, folder, "b.pdf", PDF, scope=TOWNSHIP_B, max_bytes=LIMIT,
                       case_id=ids["B"])
    with pytest.raises(LookupError):
        attach(engine, folder, "a.png", PNG, scope=TOWNSHIP_A, max_bytes=LIMIT,
               case_id=ids["B"])
    with pytest.raises(LookupError):  # refused for scope before the file is looked at
        attach(engine, folder, "a.png", b"", scope=TOWNSHIP_A, max_bytes=LIMIT,
               case_id=ids["B"])
    with pytest.raises(LookupError):
        list_evidence(engine, scope=TOWNSHIP_A, case_id=ids["B"])
    with pytest.raises(LookupError):
        read_evidence(engine, folder, theirs["id"], scope=TOWNSHIP_A, case_id=ids["B"])
    with pytest.raises(LookupError):  # nor through a case of their own
        read_evidence(engine, folder, theirs["id"], scope=TOWNSHIP_A, case_id=ids["A"])
    assert stored(engine, folder) == (1, [theirs["sha256"]])


def test_a_planner_reads_but_may_not_attach(db, tmp_path):
    engine, ids = db
    folder = tmp_path / "evidence"
    with pytest.raises(AccessDeniedError):
        attach(engine, folder, "a.png", PNG, scope=PLANNER, max_bytes=LIMIT, case_id=ids["A"])
    assert list_evidence(engine, scope=PLANNER, case_id=ids["A"]) == []
    assert stored(engine, folder) == (0, [])


def test_evidence_of_a_finding_follows_its_sites_township(db, tmp_path):
    engine, ids = db
    folder = tmp_path / "evidence"
    record, created = attach(engine, folder, "整改前.webp", WEBP, scope=TOWNSHIP_A,
                             max_bytes=LIMIT, finding_id=ids["S1"])
    assert created and record["finding_id"] == ids["S1"] and record["case_id"] is None
    assert list_evidence(engine, scope=SYSTEM, finding_id=ids["S1"]) == [record]
    with pytest.raises(LookupError):
        attach(engine, folder, "x.webp", WEBP, scope=TOWNSHIP_A, max_bytes=LIMIT,
               finding_id=ids["S2"])
    with pytest.raises(LookupError):
        list_evidence(engine, scope=TOWNSHIP_A, finding_id=ids["S2"])
    with pytest.raises(LookupError):  # a finding's evidence is not a case's
        read_evidence(engine, folder, record["id"], scope=SYSTEM, case_id=ids["A"])
    with store.sessions(engine)() as s:
        entry = s.scalar(select(AuditLog).where(AuditLog.entity == "finding",
                                                AuditLog.action == "evidence"))
    assert (entry.entity_id, entry.actor) == (str(ids["S1"]), "staff-a")
    with pytest.raises(EvidenceError):
        list_evidence(engine, scope=SYSTEM, case_id=ids["A"], finding_id=ids["S1"])


def test_a_file_changed_or_lost_on_disk_is_not_served_and_is_put_back(db, tmp_path):
    engine, ids = db
    folder = tmp_path / "evidence"
    record, _ = attach(engine, folder, "a.png", PNG, scope=SYSTEM, max_bytes=LIMIT,
                       case_id=ids["A"])
    path = file_path(folder, record["sha256"])
    path.write_bytes(PNG + b"tampered")
    with pytest.raises(LookupError):
        read_evidence(engine, folder, record["id"], scope=SYSTEM, case_id=ids["A"])
    path.unlink()
    with pytest.raises(LookupError):
        read_evidence(engine, folder, record["id"], scope=SYSTEM, case_id=ids["A"])
    attach(engine, folder, "a.png", PNG, scope=SYSTEM, max_bytes=LIMIT, case_id=ids["A"])
    assert read_evidence(engine, folder, record["id"], scope=SYSTEM, case_id=ids["A"])[1] == PNG


def _age(path, seconds: float) -> None:
    """Make ``path`` look written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.mark.parametrize("failure", [RuntimeError("the database went away"),
                                     IntegrityError("insert", {}, Exception("a constraint"))])
def test_a_failed_attachment_leaves_its_file_to_the_sweep(db, tmp_path, monkeypatch, failure):
    engine, ids = db
    folder = tmp_path / "evidence"

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(evidence_store, "audit", fail)
    with pytest.raises(type(failure)):
        attach(engine, folder, "a.png", PNG, scope=SYSTEM, max_bytes=LIMIT, case_id=ids["A"])
    monkeypatch.undo()
    sha = hashlib.sha256(PNG).hexdigest()
    assert stored(engine, folder) == (0, [sha])  # no attachment; the file stays, whatever failed
    assert sweep(engine, folder, scope=SYSTEM) == []  # too recent: an upload may be using it
    _age(file_path(folder, sha), 2 * 3600)
    assert sweep(engine, folder, scope=SYSTEM) == [sha]
    assert stored(engine, folder) == (0, [])


def test_a_failed_upload_never_removes_the_file_of_another_upload(db, tmp_path, monkeypatch):
    """Upload A writes the file and fails to store its attachment while upload B of the same
    content has found the file there; B stores its attachment after A gave up: B's file
    must still be there."""
    engine, ids = db
    folder = tmp_path / "evidence"
    real_audit, real_keep = evidence_store.audit, evidence_store._keep
    b_found, a_gave_up = threading.Event(), threading.Event()

    def audit(s, actor, entity, target, *args, **kwargs):
        if target == str(ids["A"]):
            assert b_found.wait(10)
            raise RuntimeError("the database went away for A")
        assert a_gave_up.wait(10)
        return real_audit(s, actor, entity, target, *args, **kwargs)

    def keep(*args):
        written = real_keep(*args)
        if threading.current_thread().name == "B":
            b_found.set()
        return written

    monkeypatch.setattr(evidence_store, "audit", audit)
    monkeypatch.setattr(evidence_store, "_keep", keep)
    out = {}

    def run(name, case_id):
        try:
            out[name] = attach(engine, folder, "x.pdf", PDF, scope=SYSTEM, max_bytes=LIMIT,
                               case_id=case_id)
        except Exception as exc:  # what A raised is looked at below
            out[name] = exc
        if name == "A":
            a_gave_up.set()

    a = threading.Thread(target=run, args=("A", ids["A"]), name="A")
    a.start()
    time.sleep(0.3)  # A has written the file and waits in its transaction
    b = threading.Thread(target=run, args=("B", ids["B"]), name="B")
    b.start()
    a.join(20)
    b.join(20)
    assert isinstance(out["A"], RuntimeError)
    record, created = out["B"]
    assert created
    assert read_evidence(engine, folder, record["id"], scope=SYSTEM, case_id=ids["B"])[1] == PDF


def test_the_sweep_keeps_what_is_used_recent_or_being_attached(db, tmp_path):
    engine, ids = db
    folder = tmp_path / "evidence"
    used, _ = attach(engine, folder, "a.jpg", JPEG, scope=SYSTEM, max_bytes=LIMIT,
                     case_id=ids["A"])
    _age(file_path(folder, used["sha256"]), 2 * 3600)
    lost = hashlib.sha256(PDF).hexdigest()
    recent = hashlib.sha256(PNG).hexdigest()
    for sha, data in ((lost, PDF), (recent, PNG)):
        file_path(folder, sha).parent.mkdir(parents=True, exist_ok=True)
        file_path(folder, sha).write_bytes(data)
    _age(file_path(folder, lost), 2 * 3600)
    part = file_path(folder, lost).with_name(f".{lost}.abc.part")
    part.write_bytes(b"%PDF-")
    _age(part, 2 * 3600)
    with pytest.raises(AccessDeniedError):
        sweep(engine, folder, scope=TOWNSHIP_A)
    assert sorted(sweep(engine, folder, scope=Scope("admin", actor="admin"))) == sorted(
        [lost, part.name])
    assert stored(engine, folder) == (1, sorted([used["sha256"], recent]))
    with store.sessions(engine)() as s:
        entry = s.scalar(select(AuditLog).where(AuditLog.action == "sweep"))
    assert entry.actor == "admin" and lost in entry.detail
    # an upload that finds an old unused file there makes it recent: the sweep leaves it
    file_path(folder, lost).write_bytes(PDF)
    _age(file_path(folder, lost), 2 * 3600)
    evidence_store._keep(folder, check_file("x.pdf", PDF, LIMIT), PDF)
    assert sweep(engine, folder, scope=SYSTEM) == []
