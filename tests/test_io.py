"""analysis.io: atomic writes, Parquet bytes and SHA-256 checksums, the same for every module that uses them."""

import hashlib
import io
import os

import pandas as pd
import pytest

from analysis.io import atomic_write, atomic_write_bytes, bytes_sha256, file_sha256, parquet_bytes


def test_file_and_bytes_checksums_are_plain_sha256(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # crosses the 1 MiB read chunks
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert file_sha256(path) == file_sha256(str(path)) == expected
    assert bytes_sha256(data) == expected
    assert bytes_sha256(data[:5], data[5:1000], b"", data[1000:]) == expected  # pieces hash as their concatenation
    assert bytes_sha256() == hashlib.sha256(b"").hexdigest()


def test_an_error_inside_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "table.npz"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="half way"), atomic_write(target) as file:
        file.write(b"new, but")
        raise RuntimeError("half way")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.npz"]
    with atomic_write(target) as file:
        file.write(b"new")
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == 0o644


def test_parquet_bytes_stores_the_named_object_columns_as_text_and_leaves_the_frame_alone():
    frame = pd.DataFrame({"mixed": [1, "two", None], "kept": [1, "two", None], "number": [1.5, 2.5, 3.5]})
    frame.attrs["note"] = "not written"
    back = pd.read_parquet(io.BytesIO(parquet_bytes(frame[["mixed", "number"]], as_text=["mixed", "number", "absent"])))
    assert back["mixed"].tolist()[:2] == ["1", "two"] and pd.isna(back["mixed"][2])  # None stays null
    assert back["number"].tolist() == [1.5, 2.5, 3.5]  # not an object column: as it was
    assert back.attrs == {}
    assert frame["mixed"].tolist() == [1, "two", None] and frame.attrs == {"note": "not written"}
    with pytest.raises(Exception):  # noqa: B017 - pyarrow cannot store a column of ints and strings as it is
        parquet_bytes(frame[["kept"]])
