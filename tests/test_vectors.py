"""Reading numbers and vectors as users type them (SPEC §1 "Numbers in")."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlcalc.errors import DlcalcError
from dlcalc.vectors import parse_assignments, parse_number, parse_vector


@pytest.mark.parametrize("token, expected", [
    ("2", 2.0), ("-2", -2.0), ("+0.5", 0.5), (".5", 0.5), ("5.", 5.0), ("1e-3", 1e-3),
    ("-1E+300", -1e300), ("inf", math.inf), ("-INF", -math.inf), ("Inf", math.inf),
])
def test_parse_number_accepts_integers_decimals_scientific_and_infinities(token, expected):
    assert parse_number(token) == expected


@pytest.mark.parametrize("token", ["nan", "NaN", "-nan", "NAN"])
def test_parse_number_accepts_nan_in_any_case(token):
    assert math.isnan(parse_number(token))


@pytest.mark.parametrize("token", ["abc", "1_000", "infinity", "1e", "--1", "0x10", "", "1 2", "1,2"])
def test_parse_number_rejects_anything_else_naming_the_token(token):
    with pytest.raises(DlcalcError, match="cannot read") as error:
        parse_number(token)
    assert repr(token) in str(error.value)


@pytest.mark.parametrize("tokens", [
    ["2", "1", "0.1"], ["2,1,0.1"], ["[2, 1, 0.1]"], ["[2,", "1,", "0.1]"], ["2,", "1", "0.1"],
    ["[2,1,0.1]"], [" 2 ", "1\t0.1"],
])
def test_parse_vector_accepts_tokens_commas_and_brackets(tokens):
    assert parse_vector(tokens).tolist() == [2.0, 1.0, 0.1]


@pytest.mark.parametrize("tokens, message", [
    ([], "empty"), (["[]"], "empty"), (["2,,1"], "empty element"), (["[2, 1"], "unbalanced"),
    (["2", "x"], "'x'"),
])
def test_parse_vector_errors_name_the_problem(tokens, message):
    with pytest.raises(DlcalcError, match=message):
        parse_vector(tokens)


def test_parse_assignments_reads_name_value_pairs():
    assert parse_assignments("x=1,y=-2.5") == {"x": 1.0, "y": -2.5}
    assert parse_assignments("w1=0.5 w2=1e-3") == {"w1": 0.5, "w2": 1e-3}
    with pytest.raises(DlcalcError, match="NAME=VALUE"):
        parse_assignments("x1")
    with pytest.raises(DlcalcError, match="value of x"):
        parse_assignments("x=abc")


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=20))
def test_parse_vector_round_trips_the_repr_of_any_float(values):
    text = ",".join(repr(v) for v in values)
    assert parse_vector([text]).tolist() == values


@pytest.mark.parametrize("token", ["1e999", "-1E400", "2e308"])
def test_a_number_beyond_float64_is_an_error_not_a_silent_infinity(token):
    with pytest.raises(DlcalcError, match="beyond the range of float64"):
        parse_number(token)


@pytest.mark.parametrize("token", ["１", "٣", "1２"])
def test_only_ascii_digits_are_numbers(token):
    with pytest.raises(DlcalcError, match="cannot read"):
        parse_number(token)
