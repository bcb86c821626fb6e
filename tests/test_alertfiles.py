"""Alert files read in chunks (geo.alertfiles): row numbers are line numbers on the fast
reader and after the csv module takes over; a broken record is that row's problem."""

from __future__ import annotations

import numpy as np
import pytest

from geo import alertfiles
from geo.alertfiles import IngestError, read_chunks


def _rows(path, chunk_rows=4):
    out = []
    for frame, rows in read_chunks(path, chunk_rows):
        records = frame.to_dict("records")
        out += [(int(r), rec.get("id"), rec.get("__error__")) for r, rec in zip(
            rows.tolist(), records, strict=True)]
    return out


@pytest.mark.parametrize("resume", [1, 2, 1000])
@pytest.mark.parametrize("chunk_rows", [1, 3, 1000])
def test_line_numbers_survive_blank_lines_and_the_hand_over(tmp_path, monkeypatch, chunk_rows,
                                                            resume):
    monkeypatch.setattr(alertfiles, "RESUME_AFTER", resume)
    lines = ["id,lon,lat,description"]
    lines += [f"A{i},120.1,30.8,x" for i in range(6)]       # lines 2-7
    lines += ["", ",,,"]                                       # lines 8-9: blank
    lines += ["B1,120.1,30.8,y"]                               # line 10
    lines += ['B2,120.1,30.8,"two', 'lines"']                  # lines 11-12: one record
    lines += ["B3,120.1", "B4,120.1,30.8,z,extra"]             # lines 13-14: ragged
    lines += ["B5,120.1,30.8,z", ""]                           # line 15, blank
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = _rows(path, chunk_rows)
    assert [(r, i) for r, i, e in got if e is None] == [
        (2, "A0"), (3, "A1"), (4, "A2"), (5, "A3"), (6, "A4"), (7, "A5"), (10, "B1"),
        (11, "B2"), (15, "B5")]
    assert [(r, e) for r, _, e in got if e is not None] == [
        (13, "2 field(s) where the header has 4"), (14, "5 field(s) where the header has 4")]


def test_a_quote_left_open_and_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"id,lon,lat\nA,1,2\nB,\xff\xfe,2\nC,1,2\n"
                     b'D,1,"never closed\nE,1,2\nF,1,2\n')
    got = _rows(path)
    # bytes that are not UTF-8 stay in their field, for the alert check to name it
    assert got[:3] == [(2, "A", None), (3, "B", None), (4, "C", None)]
    frame = next(iter(read_chunks(path)))[0]
    assert frame.loc[frame["id"] == "B", "lon"].item() == "\udcff\udcfe"
    assert got[3][0] == 5 and "a quote is left open" in got[3][2] and len(got) == 4


def test_bytes_that_are_not_utf8_in_a_geojson_property_stay_in_it(tmp_path):
    path = tmp_path / "a.geojson"
    path.write_bytes(b'{"type": "FeatureCollection", "features": [{"type": "Feature", '
                     b'"geometry": {"type": "Point", "coordinates": [120.1, 30.8]}, '
                     b'"properties": {"id": "A", "note": "caf\xe9"}}]}')
    frame = next(iter(read_chunks(path)))[0]
    assert frame["id"].tolist() == ["A"] and frame["note"].tolist() == ["caf\udce9"]


def test_header_only_files_and_missing_columns(tmp_path):
    for text in ("id,lon,lat\n", "id,lon,lat\n\n\n"):
        (tmp_path / "h.csv").write_text(text, encoding="utf-8")
        assert list(read_chunks(tmp_path / "h.csv")) == []
    (tmp_path / "m.csv").write_text("id,x\n1,2\n", encoding="utf-8")
    with pytest.raises(IngestError, match="missing column"):
        list(read_chunks(tmp_path / "m.csv"))


def test_chunks_cover_a_large_file_exactly(tmp_path):
    n = 25_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("id,lon,lat\n")
        f.writelines(f"R{i},120.1,30.8\n" for i in range(n))
    rows = np.concatenate([r for _, r in read_chunks(path, 7_000)])
    assert rows.tolist() == list(range(2, n + 2))


def test_the_fast_reader_takes_over_again_after_an_irregular_record(tmp_path, monkeypatch):
    monkeypatch.setattr(alertfiles, "RESUME_AFTER", 50)
    fast_starts = []
    real = alertfiles._fast_csv

    def counting(path, names, chunk_rows, offset):
        fast_starts.append(offset)
        yield from real(path, names, chunk_rows, offset)

    monkeypatch.setattr(alertfiles, "_fast_csv", counting)
    lines = ["id,lon,lat,description"]
    for i in range(3000):
        if i == 3:
            lines += [f'R{i},1,2,"two', 'lines"']
        elif i == 2500:
            lines.append(f"R{i},1")
        else:
            lines.append(f"R{i},1,2,\u6587{i}")
    path = tmp_path / "c.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = _rows(path, 400)
    good = [(r, i) for r, i, e in got if e is None]
    assert len(good) == 2999 and good[:5] == [(2, "R0"), (3, "R1"), (4, "R2"), (5, "R3"),
                                               (7, "R4")]
    assert good[-1] == (3002, "R2999") and [(r, e) for r, _, e in got if e] == [
        (2503, "2 field(s) where the header has 4")]
    assert len(fast_starts) == 3  # the start, after the two-line record, after the short one
