"""AppTest runs of evidence on 派遣 and 集成改一次, and of the 交办单 on 派遣: the uploader
attaches photos and documents (refusing what is not one, in the user's language), the list
shows them with thumbnails and download buttons, the timeline says who attached what, and a
read-only user gets no uploader."""

import errno
import hashlib
import io

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from geo import store
from geo.access import SYSTEM
from geo.app import case_files
from geo.store import evidence as evidence_store
from geo.store.evidence import attach, file_path, list_evidence
from geo.store.models import Evidence
from tests import test_app
from tests.test_app import _dispatch_page, _inspections_page, _pick_case, signed_in

# the demo databases of the page tests, as fixtures of this module too
demo_db, history_db = test_app.demo_db, test_app.history_db


def png(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    folder = tmp_path / "evidence"
    monkeypatch.setenv("GEO_EVIDENCE_DIR", str(folder))
    return folder


def _texts(at) -> str:
    return " ".join(m.value for m in (*at.markdown, *at.success, *at.warning, *at.error,
                                      *at.caption, *at.info))


def test_dispatch_page_attaches_evidence_lists_it_and_offers_the_sheet(demo_db, folder):
    engine = store.connect(demo_db.database_url)
    cid = int(_pick_case(engine, source="12345")["id"])
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    assert not at.exception
    assert "尚无证据。" in _texts(at)
    photo = png()
    at.file_uploader(key=f"d_ev_{cid}_files_0").set_value([
        ("../现场*照片.png", photo, "image/png"),
        ("伪装.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"),
        ("空.pdf", b"", "application/pdf")]).run()
    at.button(key=f"d_ev_{cid}_upload").click().run()
    assert not at.exception
    said = _texts(at)
    assert "已上传证据 现场\\_照片\\.png。" in said
    assert "伪装\\.jpg 未保存：只接受以下类型的照片或文档：JPEG、PNG、WebP、PDF" in said
    assert "空\\.pdf 未保存：文件为空。" in said
    (record,) = list_evidence(engine, scope=SYSTEM, case_id=cid)
    assert record["name"] == "现场_照片.png" and record["uploaded_by"] == "command"
    assert (folder / record["sha256"][:2] / record["sha256"]).read_bytes() == photo
    # listed with a thumbnail and a download button; on the timeline; the uploader is new
    assert len(at.get("image")) == 1
    assert [b.key for b in at.get("download_button")] == [f"d_ev_{cid}_dl_{record['id']}",
                                                           f"d_sheet_{cid}"]
    assert "指挥中心值班员：上传证据 现场\\_照片\\.png" in _texts(at)
    assert at.file_uploader(key=f"d_ev_{cid}_files_1").value in (None, [])
    # the same photo again is the attachment made before
    at.file_uploader(key=f"d_ev_{cid}_files_1").set_value(("again.png", photo, "image/png"))
    at.run()
    at.button(key=f"d_ev_{cid}_upload").click().run()
    assert "现场\\_照片\\.png 已在证据中" in _texts(at)
    with store.sessions(engine)() as s:
        assert len(s.scalars(select(Evidence)).all()) == 1


def test_a_planner_sees_the_evidence_and_the_sheet_but_no_uploader(demo_db, folder):
    engine = store.connect(demo_db.database_url)
    cid = int(_pick_case(engine)["id"])
    attach(engine, folder, "现场.png", png(), scope=SYSTEM, max_bytes=2**20, case_id=cid)
    at = signed_in(_dispatch_page, "planner").run()
    at.selectbox(key="d_case").set_value(cid).run()
    assert not at.exception
    assert "现场\\.png" in _texts(at)
    assert not at.get("file_uploader")
    assert len(at.get("download_button")) == 2


def test_inspections_page_attaches_evidence_to_a_problem(history_db, folder):
    engine = store.connect(history_db.database_url)
    at = signed_in(_inspections_page, "zhili", timeout=120).run()
    assert not at.exception
    finding = at.selectbox(key="i_problem").value
    pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
    at.file_uploader(key=f"i_ev_{finding}_files_0").set_value(("整改通知.pdf", pdf,
                                                               "application/pdf")).run()
    at.button(key=f"i_ev_{finding}_upload").click().run()
    assert not at.exception
    assert "已上传证据 整改通知\\.pdf。" in _texts(at)
    (record,) = list_evidence(engine, scope=SYSTEM, finding_id=finding)
    assert (record["content_type"], record["uploaded_by"]) == ("application/pdf", "zhili")
    assert f"i_ev_{finding}_dl_{record['id']}" in [b.key for b in at.get("download_button")]


def _broken_folder(folder, monkeypatch):
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the folder should be")


def _no_permission(folder, monkeypatch):
    def keep(*args):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/onemap/evidence/5f")

    monkeypatch.setattr(evidence_store, "_keep", keep)


def _database_down(folder, monkeypatch):
    def audit(*args, **kwargs):
        raise OperationalError("INSERT INTO audit_log", {}, Exception("database is locked"))

    monkeypatch.setattr(evidence_store, "audit", audit)


@pytest.mark.parametrize("failure", [_broken_folder, _no_permission, _database_down])
def test_a_file_that_cannot_be_saved_is_said_so_in_chinese_without_details(
        demo_db, folder, monkeypatch, caplog, failure):
    engine = store.connect(demo_db.database_url)
    cid = int(_pick_case(engine, source="12345")["id"])
    failure(folder, monkeypatch)
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    at.file_uploader(key=f"d_ev_{cid}_files_0").set_value([("现场.png", png(), "image/png")])
    at.run()
    at.button(key=f"d_ev_{cid}_upload").click().run()
    assert not at.exception
    said = _texts(at)
    assert "现场\\.png 未保存：证据保存失败，请联系管理员。" in said
    assert str(folder) not in said and "/srv" not in said and "Error" not in said
    assert "evidence '现场.png' not saved" in caplog.text  # the details go to the log
    assert list_evidence(engine, scope=SYSTEM, case_id=cid) == []


def test_a_missing_file_is_said_missing_and_not_offered_for_download(demo_db, folder):
    engine = store.connect(demo_db.database_url)
    cid = int(_pick_case(engine)["id"])
    photo = png((10, 200, 90))
    record, _ = attach(engine, folder, "现场.png", photo, scope=SYSTEM, max_bytes=2**20,
                       case_id=cid)
    file_path(folder, record["sha256"]).unlink()
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    assert not at.exception
    assert "文件缺失" in _texts(at)
    (button,) = [b for b in at.get("download_button") if b.key == f"d_ev_{cid}_dl_{record['id']}"]
    assert button.proto.disabled and button.proto.label == "文件缺失"
    assert not at.get("image")
    # put back: its thumbnail and download are there again
    attach(engine, folder, "现场.png", photo, scope=SYSTEM, max_bytes=2**20, case_id=cid)
    at.run()
    assert "文件缺失" not in _texts(at)
    assert len(at.get("image")) == 1


def test_a_thumbnail_whose_file_could_not_be_read_is_not_cached():
    photo = png((1, 2, 3))
    sha = hashlib.sha256(photo).hexdigest()

    def gone():
        raise LookupError("missing from the evidence folder")

    with pytest.raises(LookupError):
        case_files._thumbnail(sha, gone)
    assert case_files._thumbnail(sha, lambda: photo).startswith(b"\x89PNG")


def test_a_huge_png_gets_no_thumbnail_and_a_photo_one():
    from tests.test_evidence import huge

    big = huge("PNG", 7700)  # 59 MP: 450 MB to draw
    assert case_files._thumbnail(hashlib.sha256(big).hexdigest(), lambda: big) is None
    fine = huge("PNG", 3000)
    assert case_files._thumbnail(hashlib.sha256(fine).hexdigest(), lambda: fine) is not None
