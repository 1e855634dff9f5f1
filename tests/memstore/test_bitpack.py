"""Fixed-width bit packing: exact sizes, random access, and golden bytes that must never change."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memstore.codecs.bitpack import PackedArray, ValueColumn, pack, unpack


def test_golden_bytes() -> None:
    # Format stability: MSB-first continuous bitstream, no padding between values.
    assert pack(np.array([1, 0, 1, 1, 0, 0, 1, 1, 1]), 1).tolist() == [0b10110011, 0b10000000]
    assert pack(np.array([5, 3, 7]), 3).tolist() == [0b10101111, 0b10000000]
    assert pack(np.array([0xABC, 0x123]), 12).tolist() == [0xAB, 0xC1, 0x23]
    assert unpack(np.array([0b10101111, 0b10000000], dtype=np.uint8), 3, 3).tolist() == [5, 3, 7]


@given(width=st.integers(0, 32), values=st.lists(st.integers(0, 2**32 - 1), max_size=40))
def test_pack_round_trip_and_size(width: int, values: list[int]) -> None:
    data = np.array([v % (1 << width) if width else 0 for v in values], dtype=np.int64)
    packed = pack(data, width)
    assert packed.size == -(-data.size * width // 8)
    assert unpack(packed, width, data.size).tolist() == data.tolist()


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 30),
    symbols=st.integers(1, 6),
    width=st.integers(0, 20),
    data=st.data(),
)
def test_packed_array_random_access_matches_a_plain_table(rows: int, symbols: int, width: int, data) -> None:
    table = np.zeros((rows, symbols), dtype=np.int64)
    packed = PackedArray(rows, symbols, width)
    for _ in range(data.draw(st.integers(1, 6))):
        chosen = data.draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=rows, unique=True))
        seed = data.draw(st.integers(0, 2**31))
        values = np.random.default_rng(seed).integers(0, 1 << width, size=(len(chosen), symbols))
        packed.write(np.array(chosen), values)
        table[chosen] = values
        read = data.draw(st.lists(st.integers(0, rows - 1), max_size=rows))
        assert packed.read(np.array(read, dtype=np.int64)).tolist() == table[read].tolist()
    n = data.draw(st.integers(0, rows))
    as_bytes = packed.to_bytes(n)
    assert as_bytes.tolist() == pack(table[:n].reshape(-1), width).tolist()
    copy = PackedArray(rows, symbols, width)
    copy.load_bytes(as_bytes, n)
    assert copy.read(np.arange(n)).tolist() == table[:n].tolist()


def test_rejects_bad_arguments() -> None:
    packed = PackedArray(4, 2, 3)
    with pytest.raises(ValueError, match="unique"):
        packed.write(np.array([1, 1]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="2\\*\\*3"):
        packed.write(np.array([1]), np.array([[8, 0]]))
    with pytest.raises(IndexError):
        packed.read(np.array([4]))
    with pytest.raises(ValueError, match="expected 3 bytes"):
        packed.load_bytes(np.zeros(2, dtype=np.uint8), 4)
    with pytest.raises(ValueError, match="width"):
        PackedArray(1, 1, 33)


@pytest.mark.parametrize("width", [0, 1, 3, 4, 8, 13])
def test_value_column_saves_the_bytes_of_a_one_symbol_packed_array(width: int) -> None:
    values = np.random.default_rng(width).integers(0, 1 << width, size=(37, 1)) if width else np.zeros((37, 1), int)
    column, packed = ValueColumn(100, width), PackedArray(100, 1, width)
    rows = np.arange(37)
    column.set(rows, values)
    packed.write(rows, values)
    assert np.array_equal(column.to_bytes(37), packed.to_bytes(37))
    assert np.array_equal(column.get(rows), values.astype(np.int64))
    reloaded = ValueColumn(100, width)
    reloaded.load_bytes(packed.to_bytes(37), 37)
    assert np.array_equal(reloaded.get(rows), values.astype(np.int64))
    assert np.array_equal(reloaded.get(np.array([99])), [[0]])  # never written: 0


def _columns(rows: int, symbols: int, width: int):
    from memstore.stores.zarr_payload import ZarrPackedArray

    made = {"packed": PackedArray(rows, symbols, width), "zarr": ZarrPackedArray(rows, symbols, width, chunk_bytes=8)}
    if symbols == 1:
        made["values"] = ValueColumn(rows, width)
    return made


@pytest.mark.parametrize(("symbols", "width"), [(1, 3), (1, 8), (3, 8), (5, 1), (2, 13), (4, 0)])
def test_every_column_implements_one_interface_with_the_same_values_bytes_and_dtype(symbols: int, width: int) -> None:
    from memstore.codecs.bitpack import Column, value_dtype

    gen = np.random.default_rng(symbols * 100 + width)
    values = gen.integers(0, 1 << width, size=(50, symbols)) if width else np.zeros((50, symbols), int)
    rows = gen.permutation(120)[:50]
    got = {}
    for name, column in _columns(120, symbols, width).items():
        assert isinstance(column, Column)
        column.write(rows, values)
        out = column.read(np.sort(rows))
        assert out.dtype == value_dtype(width, symbols * width), name
        got[name] = (out.astype(np.int64), column.to_bytes(120))
        with pytest.raises(IndexError):
            column.read(np.array([120]))
        if width:
            with pytest.raises(ValueError, match="unique"):
                column.write(np.array([1, 1]), np.ones((2, symbols), dtype=np.int64))
            with pytest.raises(ValueError, match="values must lie"):
                column.write(np.array([1]), np.full((1, symbols), 1 << width))
    first = next(iter(got.values()))
    order = np.argsort(rows)
    assert np.array_equal(first[0], values[order])
    for name, (out, data) in got.items():
        assert np.array_equal(out, first[0]) and np.array_equal(data, first[1]), name


@pytest.mark.parametrize(("symbols", "width"), [(1, 4), (1, 8), (3, 8), (2, 13)])
def test_rows_past_the_grown_buffer_read_as_zero_and_writes_there_grow_it(symbols: int, width: int) -> None:
    columns = {"packed": PackedArray(10_000, symbols, width)}
    if symbols == 1:
        columns["values"] = ValueColumn(10_000, width)
    top = (1 << width) - 1
    for name, column in columns.items():
        column.set(np.array([0]), np.full((1, symbols), top))
        assert column.get(np.array([5_000, 0])).tolist() == [[0] * symbols, [top] * symbols], name
        column.set(np.array([9_999, 70]), np.full((2, symbols), top))
        expected = [[top] * symbols, [top] * symbols, [0] * symbols, [top] * symbols]
        assert column.get(np.array([9_999, 70, 69, 0])).tolist() == expected, name
