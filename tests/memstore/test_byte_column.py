"""ByteColumn: variable-size rows with their charged bits kept current, dense removal, and its on-disk form."""

from __future__ import annotations

import numpy as np
import pytest

from memstore.codecs.byte_column import ByteColumn


def cost(value: bytes) -> int:
    return 8 * len(value)


def test_rows_and_bits_follow_every_change() -> None:
    column = ByteColumn(cost)
    for row, value in enumerate((b"ab", b"c", b"defg")):
        column.set(row, value)
    assert len(column) == 3 and column.bits == 56 and column.get([2, 0]) == [b"defg", b"ab"]
    column.set(1, b"xyz")
    assert column.bits == 72 and column.values() == [b"ab", b"xyz", b"defg"]
    column.remove(0)  # the last row moves into the freed one
    assert column.values() == [b"defg", b"xyz"] and column.bits == 56
    column.replace_all([b"q"])
    assert len(column) == 1 and column.bits == 8


def test_to_bytes_and_split_round_trip_and_refuse_what_does_not_match() -> None:
    column = ByteColumn(cost)
    for row, value in enumerate((b"ab", b"c", b"defg")):
        column.set(row, value)
    payload, lengths = column.to_bytes(b"HDR", 5)
    assert payload.tobytes() == b"HDRabcdefg" and lengths.size == 2  # 3 lengths × 5 bits
    assert ByteColumn.split(payload.tobytes(), lengths, 3, b"HDR", 5) == [b"ab", b"c", b"defg"]
    empty_payload, empty_lengths = ByteColumn(cost).to_bytes(b"HDR", 5)
    assert empty_payload.size == 0 and empty_lengths.size == 0
    assert ByteColumn.split(b"", empty_lengths, 0, b"HDR", 5) == []
    for bad in (payload.tobytes()[:-1], b"XDRabcdefg"):
        with pytest.raises(ValueError, match="payload"):
            ByteColumn.split(bad, lengths, 3, b"HDR", 5)
    with pytest.raises(ValueError, match="lengths"):
        ByteColumn.split(payload.tobytes(), np.zeros(5, np.uint8), 3, b"HDR", 5)


@pytest.mark.parametrize("on_disk", [False, True], ids=["in memory", "zarr on disk"])
def test_chunked_passes_read_and_rewrite_every_row_with_its_bits(on_disk, tmp_path, monkeypatch) -> None:
    from memstore.codecs import byte_column
    from memstore.stores.zarr_payload import ZarrByteColumn

    monkeypatch.setattr(byte_column, "ROWS_AT_A_TIME", 3)  # several chunks, the last one short
    column = ZarrByteColumn(cost, store=tmp_path / "w", name="payload") if on_disk else ByteColumn(cost)
    rows = [bytes([k]) * (k % 4 + 1) for k in range(8)]
    for row, value in enumerate(rows):
        column.set(row, value)
    assert [len(chunk) for chunk in column.chunks()] == [3, 3, 2]
    assert [value for chunk in column.chunks() for value in chunk] == rows
    column.recode(lambda chunk: [value * 2 for value in chunk])
    assert column.values() == [value * 2 for value in rows] and column.bits == 2 * sum(map(cost, rows))
    with pytest.raises(ValueError, match="gave 2 rows for 3"):
        column.recode(lambda chunk: chunk[:2])
