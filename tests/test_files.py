"""A FILE wherever numbers are read (issue 12): one argument that is not a number names a file,
read exactly as standard input is; CSV with a header, quoted fields and named columns."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from conftest import assert_user_error, examples, floats, on_both_batch_paths
from dlcalc import batch

LOGITS = b"2 1 0.1\n# a comment\n\n0.5 2.5 -1\n1e-3,1e3\n"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def both_paths(*args: str, stdin: bytes = b""):
    return on_both_batch_paths(args, stdin)


# ---------------------------------------------------------------- a FILE is read as stdin is


@pytest.mark.parametrize("args", [["softmax"], ["softmax", "--json"], ["activate", "gelu", "--deriv"],
                                  ["softmax", "-f", "csv"], ["softmax", "--dtype", "float32"]])
def test_a_file_argument_gives_what_the_same_bytes_on_stdin_give(dl, folder, args):
    (folder / "logits.txt").write_bytes(LOGITS + b"1 x\n")
    from_file = dl(*args, "logits.txt")
    from_stdin = dl(*args, stdin=LOGITS + b"1 x\n")
    assert (from_file.code, from_file.out, from_file.err) == (from_stdin.code, from_stdin.out, from_stdin.err)
    assert from_file.code == 2 and "error: line 6: cannot read 'x'" in from_file.err
    assert from_file.out.count("\n") >= 3


def test_a_file_in_another_folder_and_dash_for_stdin(dl, folder):
    (folder / "data").mkdir()
    (folder / "data" / "z.txt").write_bytes(b"0 0\n")
    assert dl("softmax", "data/z.txt").out == "0.5 0.5\n"
    assert dl("softmax", "-", stdin=b"0 0 0 0\n").out == "0.25 0.25 0.25 0.25\n"
    (folder / "data" / "p.txt").write_bytes(b"1 0\n")
    absolute = dl("kl", str(folder / "data" / "p.txt"), "--q", "0.5", "0.5")
    assert absolute.out == dl("kl", "1", "0", "--q", "0.5", "0.5").out != ""


def test_numbers_win_over_a_file_of_the_same_name_and_dot_slash_reads_the_file(dl, folder):
    (folder / "2").write_bytes(b"0 0\n")
    (folder / "nan").write_bytes(b"0 0\n")
    assert dl("activate", "relu", "2").out == "2\n"
    assert dl("activate", "relu", "nan").out == "nan\n"
    assert dl("softmax", "./2").out == "0.5 0.5\n"


def test_two_arguments_are_numbers_never_files(dl, folder):
    (folder / "a.txt").write_bytes(b"1\n")
    assert_user_error(dl("softmax", "a.txt", "1"), "cannot read 'a.txt' as a number")


@pytest.mark.parametrize("name", ["logits.txt", "missing.csv", "no/such/folder/z", "run.log"])
def test_a_missing_file_is_an_error_naming_it(dl, folder, name):
    run = dl("softmax", name)
    assert_user_error(run, f"cannot open {name!r}", "no such file")
    assert run.out == ""


def test_a_word_that_is_neither_a_number_nor_a_file_says_both(dl, folder):
    assert_user_error(dl("softmax", "infinity"), "cannot read 'infinity' as a number",
                      "expected a number", "no file 'infinity'")


def test_a_folder_is_not_a_file_of_numbers(dl, folder):
    (folder / "sub").mkdir()
    assert_user_error(dl("softmax", "sub"), "'sub' is a folder")


def test_an_empty_file_is_an_error_naming_it(dl, folder):
    (folder / "empty.txt").write_bytes(b"# nothing\n\n")
    assert_user_error(dl("softmax", "empty.txt"), "'empty.txt' had no numbers")


def test_a_file_streams_in_blocks_like_stdin(dl, folder, monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 256)
    lines = [f"{i} {i + 1} {i % 7}" for i in range(3000)]
    lines[1234] = "1 2 abc"
    (folder / "big.txt").write_text("\n".join(lines) + "\n")
    run = both_paths("softmax", "big.txt")
    assert run.code == 2 and run.err == "error: line 1235: cannot read 'abc' as a number; expected a number such as 2, -0.5, 1e-3, inf, -inf or nan\n"
    assert len(run.out.splitlines()) == 2999


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_output_from_a_file_starts_before_the_file_ends(tmp_path):
    """A named pipe as FILE: the first line's answer arrives while the writer still holds it open."""
    fifo = tmp_path / "z.fifo"
    os.mkfifo(fifo)
    process = subprocess.Popen([sys.executable, "-m", "dlcalc", "softmax", str(fifo)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(process.stdout.readline()), daemon=True)
    reader.start()
    try:
        with open(fifo, "wb", buffering=0) as writer:
            writer.write(b"0 0\n")
            reader.join(timeout=60)
            assert got == [b"0.5 0.5\n"], "no output before the end of the file"
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait()


# ---------------------------------------------------------------- CSV

CSV = (b'id,z0,z1,z2,label\r\n'
       b'1,2,1,0.1,0\r\n'
       b'2,"0.5", 2.5 ,-1,1\r\n'
       b'# a comment\r\n'
       b'3,0,0,0,2\r\n')


def test_a_header_is_skipped_by_a_flag_and_quoted_fields_are_read(dl, folder):
    (folder / "b.csv").write_bytes(b'z0,z1\n"2",1\n0,"0"\n')
    run = both_paths("softmax", "b.csv", "--header")
    assert run.code == 0
    assert run.out == dl("softmax", stdin=b"2 1\n0 0\n").out


def test_without_the_flag_a_header_is_a_bad_line_never_guessed(dl, folder):
    (folder / "b.csv").write_bytes(b'z0,z1\n2,1\n')
    run = dl("softmax", "b.csv")
    assert run.code == 2 and run.err.startswith("error: line 1: cannot read 'z0'")
    assert run.out == dl("softmax", "2", "1").out


def test_named_columns_give_the_vector_and_the_ce_target(dl, folder):
    (folder / "batch.csv").write_bytes(CSV)
    run = both_paths("ce", "batch.csv", "--columns", "z0,z1,z2", "--target-column", "label")
    oracle = dl("ce", stdin=b"2 1 0.1 ; 0\n0.5 2.5 -1 ; 1\n0 0 0 ; 2\n")
    assert run.code == 0, run.err
    assert run.out == oracle.out and len(floats(run.out)) == 3
    # --columns left out: every column but the target's, the id included
    with_id = dl("ce", "batch.csv", "--target-column", "label")
    assert with_id.out == dl("ce", stdin=b"1 2 1 0.1 ; 0\n2 0.5 2.5 -1 ; 1\n3 0 0 0 ; 2\n").out


def test_several_target_columns_are_probability_targets_and_binary_labels(dl, folder):
    (folder / "soft.csv").write_bytes(b"a,b,pa,pb\n2,1,0.7,0.3\n")
    run = dl("ce", "soft.csv", "--columns", "a,b", "--target-column", "pa,pb", "--json")
    assert run.code == 0
    assert run.out == dl("ce", "2", "1", "--target-probs", "0.7", "0.3", "--json").out.replace(
        '{"', '{"line": 2, "', 1)
    binary = dl("ce", "soft.csv", "--binary", "--columns", "a,b", "--target-column", "pa,pb")
    assert binary.out == dl("ce", "2", "1", "--binary", "--target", "0.7", "0.3").out


def test_kl_reads_q_from_named_columns(dl, folder):
    (folder / "pq.csv").write_bytes(b"p0,p1,q0,q1\n0.7,0.3,0.6,0.4\n1,0,0.5,0.5\n")
    run = both_paths("kl", "pq.csv", "--columns", "p0,p1", "--q-column", "q0,q1")
    assert run.code == 0
    assert run.out == dl("kl", stdin=b"0.7 0.3 ; 0.6 0.4\n1 0 ; 0.5 0.5\n").out


def test_csv_on_stdin_with_a_header(dl):
    run = dl("kl", "--q-column", "q", "--columns", "p", "--normalize", stdin=b"p,q\n1,1\n")
    assert run.code == 0 and floats(run.out) == [0.0]


def test_a_csv_spread_over_many_blocks_keeps_its_header_and_line_numbers(dl, folder, monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 64)
    rows = [f"{i},{i % 2},{-i}" for i in range(400)]
    rows[200] = "200,,1"
    (folder / "many.csv").write_text("z,t,w\n" + "\n".join(rows) + "\n")
    run = both_paths("ce", "many.csv", "--columns", "z,w", "--target-column", "t")
    assert run.code == 2 and run.err == "error: line 202: empty field in column 't'\n"
    assert len(run.out.splitlines()) == 399


@pytest.mark.parametrize("content, fragments", [
    (b"a,b\n1,\n", ["line 2: empty field in column 'b'"]),
    (b"a,b\n,1\n", ["line 2: empty field in column 'a'"]),
    (b"a,b\n1\n", ["line 2: 1 field, but the header names 2 columns"]),
    (b"a,b\n1,\"2 3\"\n", ["line 2: column 'b' holds '2 3'"]),
    (b"a,b\n1,\"2\n", ["line 2: not a CSV line"]),
    (b"a,b\n1,x\n", ["line 2: cannot read 'x'"]),
    (b"a,b\n\xff,1\n", ["line 2: not valid UTF-8"]),
])
def test_bad_csv_lines_are_line_numbered_errors(dl, folder, content, fragments):
    (folder / "bad.csv").write_bytes(content)
    assert_user_error(dl("softmax", "bad.csv", "--columns", "a,b"), *fragments)


@pytest.mark.parametrize("args, fragments", [
    (["--target-column", "lable"], ["no column 'lable'", "its columns are id, z0, z1, z2, label"]),
    (["--columns", "z0,z9", "--target-column", "label"], ["no column 'z9'"]),
    (["--target-column", "label", "--target", "1"], ["--target-column", "command line gives one too"]),
    (["--target-column", "label,", "--target", "1"], ["--target-column takes column names"]),
    (["--columns", "label", "--target-column", "label"], []),
])
def test_column_mistakes_are_one_error_naming_the_column(dl, folder, args, fragments):
    (folder / "batch.csv").write_bytes(CSV)
    run = dl("ce", "batch.csv", *args)
    if fragments:
        assert_user_error(run, *fragments)
        assert run.out == ""


def test_a_column_named_twice_in_the_header_is_an_error(dl, folder):
    (folder / "d.csv").write_bytes(b"a,a,t\n1,2,0\n")
    assert_user_error(dl("ce", "d.csv", "--target-column", "t", "--columns", "a"), "'a' appears 2 times")


def test_csv_options_do_not_apply_to_numbers_on_the_command_line(dl):
    assert_user_error(dl("softmax", "1", "2", "--header"), "FILE or to standard input")


# ---------------------------------------------------------------- CSV fuzz

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

csv_field = st.one_of(st.sampled_from(["1", "-2.5", "1e3", "inf", "nan", "", " ", '"3"', '"4', "x",
                                       "1 2", ";", "#", "\r", "\u2028", "[1]"]),
                      st.floats(allow_nan=False, allow_infinity=False).map(repr))


@settings(max_examples=examples(40), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(csv_field, min_size=1, max_size=4), min_size=1, max_size=8), st.booleans())
def test_any_csv_gives_answers_or_line_numbered_errors_never_a_traceback(tmp_path_factory, rows, header):
    folder = tmp_path_factory.mktemp("csv")
    path = folder / "any.csv"
    path.write_text("a,b,t\n" * header + "\n".join(",".join(row) for row in rows) + "\n")
    args = ["ce", str(path), "--target-column", "t"] if header else ["softmax", str(path)]
    run = both_paths(*args)
    assert run.code in (0, 2), run.err
    assert "Traceback" not in run.err
    assert all(line.startswith(("error:", "warning:")) for line in run.err.splitlines()), run.err
