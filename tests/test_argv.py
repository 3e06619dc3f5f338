"""Rewriting argv so Click accepts negative numbers and vector options (SPEC §1)."""

from dlcalc.argv import normalize

ARITY = {"--q": 1, "--deriv": 0, "-d": 0, "--range": 2, "-p": 1, "--at": 1, "-t": 1,
         "--format": 1, "-f": 1, "--help": 0}
VECTORS = frozenset({"--q", "--at", "-t"})


def run(*args):
    return normalize(list(args), arity=ARITY, vector_options=VECTORS)


def test_negative_numbers_become_positionals_after_double_dash():
    assert run("relu", "-2", "-1", "0", "--deriv") == ["--deriv", "--", "relu", "-2", "-1", "0"]


def test_vector_option_takes_every_token_up_to_the_next_option():
    assert run("0.7", "0.2", "0.1", "--q", "0.6", "-0.3", "0.1", "-f", "json") == \
        ["--q=0.6,-0.3,0.1", "-f", "json", "--", "0.7", "0.2", "0.1"]


def test_short_vector_option_is_joined_onto_its_flag():
    assert run("softmax", "-t", "0.5", "1", "2") == ["-t0.5,1,2", "--", "softmax"]


def test_assignments_of_at_are_joined():
    assert run("x*y", "--at", "x=1", "y=2") == ["--at=x=1,y=2", "--", "x*y"]


def test_fixed_arity_options_keep_their_values_even_when_negative():
    assert run("sigmoid", "--range", "-6", "6", "-p", "beta=2") == \
        ["--range", "-6", "6", "-p", "beta=2", "--", "sigmoid"]


def test_inline_values_and_double_dash_are_respected():
    assert run("--q=0.5,0.5", "--", "--deriv") == ["--q=0.5,0.5", "--", "--deriv"]


def test_unknown_options_are_left_for_click_to_report():
    assert run("1", "--frobnicate") == ["--frobnicate", "--", "1"]


def test_expressions_with_operators_are_positional():
    assert run("-x**2+1", "--at", "x=1") == ["--at=x=1", "--", "-x**2+1"]


def test_negative_infinity_and_nan_are_numbers_not_options():
    assert run("relu", "-INF", "-nan", "-Inf") == ["--", "relu", "-INF", "-nan", "-Inf"]
