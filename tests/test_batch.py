"""Batch mode: stdin lines, chunking, grouping, bad lines (SPEC §1 "Standard input")."""

import io

import numpy as np

from dlcalc import batch
from dlcalc.batch import parse_chunk, read_lines


def lines_of(data: bytes):
    return [line for chunk in read_lines(io.BytesIO(data)) for line in chunk]


def test_lines_are_numbered_and_crlf_and_bom_are_accepted():
    got = lines_of(b"\xef\xbb\xbf1 2\r\n3,4\r\n")
    assert [n for n, _ in got] == [1, 2]
    chunk = parse_chunk(got)
    assert chunk.bad == []
    assert chunk.groups[0].matrix().tolist() == [[1, 2], [3, 4]]


def test_blank_and_comment_lines_are_skipped_but_counted():
    chunk = parse_chunk(lines_of(b"# header\n\n1 2 3\n  \n4\t5\t6"))
    assert chunk.groups[0].numbers == [3, 5]


def test_lines_are_grouped_by_length_for_one_numpy_call_each():
    chunk = parse_chunk(lines_of(b"1 2\n1 2 3\n3 4\n5 6 7\n"))
    shapes = sorted((g.matrix().shape, tuple(g.numbers)) for g in chunk.groups)
    assert shapes == [((2, 2), (1, 3)), ((2, 3), (2, 4))]


def test_operand_after_semicolon_is_read_per_line():
    chunk = parse_chunk(lines_of(b"2 1 0.1 ; 0\n1 2 3;2\n"))
    group = chunk.groups[0]
    assert group.operand_matrix().tolist() == [[0.0], [2.0]]


def test_bad_lines_carry_their_numbers_and_good_lines_go_on():
    chunk = parse_chunk(lines_of(b"1 2\nabc\n\xff\xfe\n3 4\n1;\n"))
    assert [(b.number, b.message.split(" ")[0]) for b in chunk.bad] == \
        [(2, "cannot"), (3, "not"), (5, "empty")]
    assert chunk.groups[0].numbers == [1, 4]


def test_input_is_read_in_bounded_chunks(monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 64)
    data = b"".join(b"%d 1 2\n" % i for i in range(1000))
    chunks = list(read_lines(io.BytesIO(data)))
    assert len(chunks) > 10
    assert sum(len(c) for c in chunks) == 1000
    assert max(len(c) for c in chunks) < 20


def test_an_overlong_line_is_an_error_without_being_held_in_memory(monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 4096)
    data = b"1 2\n" + b"1 " * 10000 + b"\n3 4\n"
    chunk = parse_chunk([line for c in read_lines(io.BytesIO(data)) for line in c])
    assert [b.number for b in chunk.bad] == [2]
    assert np.concatenate([g.matrix() for g in chunk.groups]).tolist() == [[1, 2], [3, 4]]
