"""Evidence of a case over HTTP, on SQLite and PostGIS: multipart upload, list and download
scoped by the token exactly as the store decides (another township's case is 404, a
read-only token 403), refusals as 422 with their code and nothing stored, a body beyond the
evidence limit 413, and hostile file contents and names never a 5xx."""

import hashlib
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.settings import Settings
from geo.store.models import Evidence
from tests import test_api_resources
from tests.test_api import auth, count
from tests.test_evidence import JPEG, PDF, PNG, WEBP, huge

LIMIT_MB = 0.01  # 10485 bytes


@pytest.fixture
def store_settings(store_url, tmp_path) -> Settings:
    """A fresh database on each backend, the evidence in the test's folder, a small limit."""
    return Settings(database_url=store_url, evidence_path=tmp_path / "evidence",
                    evidence_max_mb=LIMIT_MB)


#: the small district of the resource API tests, on the settings above
resources_api = test_api_resources.api


@pytest.fixture
def api(resources_api, tmp_path):
    """Cases A (township A) and B (township B) posted by the source src:
    ``(client, tokens, engine, ids, folder)``."""
    client, tokens, engine, ids = resources_api
    return client, tokens, engine, ids, tmp_path / "evidence"


def upload(client, token, case_id, name, data, kind="application/octet-stream"):
    return client.post(f"/api/v1/cases/{case_id}/evidence", files={"file": (name, data, kind)},
                       headers=auth(token))


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_attach_list_and_download(api):
    client, tokens, _, ids, folder = api
    r = upload(client, tokens["a"], ids["A"], "现场 照片.jpg", JPEG, "image/png")
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["case_id"], got["name"], got["content_type"], got["size"], got["uploaded_by"]
            ) == (ids["A"], "现场 照片.jpg", "image/jpeg", len(JPEG), "a")
    assert got["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert got["uploaded_at"].endswith("Z") or got["uploaded_at"].endswith("+00:00")
    again = upload(client, tokens["boss"], ids["A"], "again.jpg", JPEG)
    assert again.status_code == 200 and again.json() == got
    r = client.get(f"/api/v1/cases/{ids['A']}/evidence", headers=auth(tokens["a"]))
    assert r.status_code == 200 and r.json() == {"items": [got]}
    r = client.get(f"/api/v1/cases/{ids['A']}/evidence/{got['id']}", headers=auth(tokens["a"]))
    assert r.status_code == 200 and r.content == JPEG
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"__ __.jpg\"; filename*=UTF-8''")
    assert unquote(disposition.split("''", 1)[1]) == "现场 照片.jpg"
    assert files(folder) == [got["sha256"]]


def test_another_townships_case_is_404_and_a_read_only_token_403(api):
    client, tokens, engine, ids, folder = api
    theirs = upload(client, tokens["b"], ids["B"], "b.pdf", PDF).json()
    assert upload(client, tokens["a"], ids["B"], "x.png", PNG).status_code == 404
    assert client.get(f"/api/v1/cases/{ids['B']}/evidence",
                      headers=auth(tokens["a"])).status_code == 404
    for case in ("A", "B"):
        r = client.get(f"/api/v1/cases/{ids[case]}/evidence/{theirs['id']}",
                       headers=auth(tokens["a"]))
        assert r.status_code == 404
    # the source reads the evidence of its own alerts' cases, and may not attach
    r = client.get(f"/api/v1/cases/{ids['B']}/evidence", headers=auth(tokens["src"]))
    assert r.status_code == 200 and [x["id"] for x in r.json()["items"]] == [theirs["id"]]
    assert upload(client, tokens["src"], ids["B"], "x.png", PNG).status_code == 403
    assert client.get(f"/api/v1/cases/{ids['A']}/evidence").status_code == 401
    assert count(engine, Evidence) == 1 and files(folder) == [theirs["sha256"]]


@pytest.mark.parametrize(("data", "code"), [
    (b"", "evidence_empty"), (b"<script>alert(1)</script>", "evidence_bad_type"),
    (b"GIF89a" + bytes(100), "evidence_bad_type"),
    (PNG + bytes(11_000), "evidence_too_big"), (huge(), "evidence_too_many_pixels")])
def test_a_refused_file_is_422_with_its_code_and_nothing_is_stored(api, data, code):
    client, tokens, engine, ids, folder = api
    r = upload(client, tokens["a"], ids["A"], "photo.jpg", data, "image/jpeg")
    assert r.status_code == 422, r.text
    (err,) = r.json()["detail"]
    assert (err["loc"], err["type"]) == (["body", "file"], code)
    assert count(engine, Evidence) == 0 and files(folder) == []


def test_no_file_is_422_and_a_body_beyond_the_limit_413(api):
    client, tokens, engine, ids, folder = api
    r = client.post(f"/api/v1/cases/{ids['A']}/evidence", data={"other": "x"},
                    headers=auth(tokens["a"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
    r = upload(client, tokens["a"], ids["A"], "big.jpg", JPEG + bytes(200_000))
    assert r.status_code == 413
    assert count(engine, Evidence) == 0 and files(folder) == []


NAMES = st.text(max_size=300) | st.sampled_from(
    ["../../../etc/passwd", "..", "C:\\x\\y.jpg", "a\x00b.pdf", "CON", "", ".", "a/",
     "\u202egpj.exe", "%2e%2e%2fx", "x" * 5000])
CONTENT = st.sampled_from([JPEG, PNG, WEBP, PDF, b"", b"\xff\xd8"]) | st.binary(max_size=64)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=NAMES, head=CONTENT, tail=st.binary(max_size=32),
       kind=st.sampled_from(["image/jpeg", "text/html", "application/x-evil", ""]))
def test_hostile_files_and_names_never_5xx(api, name, head, tail, kind):
    client, tokens, engine, ids, folder = api
    before = count(engine, Evidence)
    r = client.post(f"/api/v1/cases/{ids['A']}/evidence",
                    files={"file": (name, head + tail, kind or None)},
                    headers=auth(tokens["a"]))
    # 400: a body the multipart parser cannot read (httpx writes no file name for "")
    assert r.status_code in (200, 201, 400, 422), (r.status_code, r.text)
    if r.status_code >= 400:
        assert count(engine, Evidence) == before
        return
    got = r.json()
    assert "/" not in got["name"] and "\\" not in got["name"] and got["name"] not in ("..", ".")
    assert (folder / got["sha256"][:2] / got["sha256"]).read_bytes() == head + tail
    back = client.get(f"/api/v1/cases/{ids['A']}/evidence/{got['id']}",
                      headers=auth(tokens["a"]))
    assert back.status_code == 200 and back.content == head + tail
