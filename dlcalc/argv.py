"""Command lines as users type them, made digestible for Click.

Two things users type that Click cannot parse on its own:

- negative numbers as positional arguments (`dlcalc activate relu -2 -1 0`), which Click would
  take for options;
- vector options that take every following token up to the next option
  (`dlcalc kl 0.7 0.2 0.1 --q 0.6 0.3 0.1`, `dlcalc grad "x*y" --at x=1 y=2`), where Click
  options take a fixed number of values.

`normalize(args, ...)` rewrites the argument list before Click sees it: each vector option's
tokens are joined into one comma-separated value (`--q=0.6,0.3,0.1`), every other known option
keeps its values, and all remaining tokens follow a `--` so Click treats them as positional,
minus signs and all. Unknown option-like tokens (`--foo`, `-z`) stay before the `--`, so Click
reports them as unknown options.
"""

from __future__ import annotations

import re

# A token that is an option name rather than a value: -x, --name, --name=value.
_OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.DOTALL)
_INFINITY_OR_NAN = re.compile(r"-(inf|nan)", re.IGNORECASE)


def normalize(args: list[str], *, arity: dict[str, int], vector_options: frozenset[str]) -> list[str]:
    """Rewrite `args` for Click.

    arity:          every option name of the command -> how many values it takes (0 for flags)
    vector_options: the option names that take all tokens up to the next option
    """
    options: list[str] = []
    positionals: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            positionals += args[index:]
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        if name in vector_options and "=" not in token:
            values = []
            while index < len(args) and not _is_option(args[index], arity):
                values.append(args[index])
                index += 1
            options.append(f"{name}={','.join(values)}" if name.startswith("--")
                           else f"{name}{','.join(values)}" if values else name)
        elif name in arity:
            count = 0 if "=" in token else arity[name]
            options.append(token)
            options += args[index:index + count]
            index += count
        elif _OPTION_LIKE.fullmatch(token) and not _INFINITY_OR_NAN.fullmatch(token):
            options.append(token)  # unknown option: Click names it in its error
        else:
            positionals.append(token)
    return options + ["--"] + positionals if positionals else options


def _is_option(token: str, arity: dict[str, int]) -> bool:
    return token == "--" or token.split("=", 1)[0] in arity
