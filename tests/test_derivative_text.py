"""Each elementwise op's derivative *text* is the derivative its VJP computes.

``OPS[name].text`` is what ``tinysae explain`` prints as an op's local derivative, with the
placeholders ``<x>`` (a unary op's input), ``<a>``, ``<b>`` (a binary op's inputs), ``<out>``
(the output) and ``<p>`` (pow's exponent). Here each text is *evaluated*, by a tiny parser with
an explicit translation table and no ``eval``, on hypothesis-drawn inputs in the op's domain,
and compared with ``op.vjp`` at ``g = 1``: for an elementwise op the VJP at ``g = 1`` is the
local derivative itself, entry by entry (relative error < 1e-12).

The language of the texts, and its translation to numpy:

==================  =====================================================================
text                numpy
==================  =====================================================================
``<x> <a> <b>``     the op's inputs; ``<out>`` its output; ``<p>`` its ``p`` attribute
``mask``            the ``mask`` attribute (``where``'s boolean condition)
``1``, ``0.5``      float literals
``+ - * /``         ``+ - * /`` (usual precedence; unary minus below ``^``: ``-x^2 = -(x^2)``)
``^``               ``**`` (right-associative)
``f(...)``          :data:`FUNCTIONS`: ``sigmoid`` (scipy's ``expit``), ``tanh``, ``exp``,
                    ``sign``
``[cond]``          the indicator ``1.0 where cond else 0.0``; ``cond`` is a comparison
                    (``>``, ``<``, ``>=``, ``<=``) or a boolean name, optionally ``not cond``
==================  =====================================================================

Anything else in a text (an unknown name or function, a stray character) is a test failure,
so a new op must write its derivative in this language or extend the table on purpose.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from scipy.special import expit

from tinysae.autograd.ops import OPS

TOLERANCE = 1e-12

#: The functions a derivative text may call, and what each means.
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": expit,
    "tanh": np.tanh,
    "exp": np.exp,
    "sign": np.sign,
}
#: Boolean attributes a text may name bare (inside an indicator).
BOOLEAN_NAMES = ("mask",)
#: The binary operators, with ``^`` read as ``**``.
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "^": operator.pow,
}
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    ">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal,
}

TOKEN = re.compile(r"\s*(?:(<[a-z]+>)|(\d+(?:\.\d+)?)|([A-Za-z_]+)|(>=|<=|[-+*/^()\[\]<>]))")


def tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot read {text[pos:]!r} in derivative text {text!r}")
        tokens.append(match.group(match.lastindex))
        pos = match.end()
    return tokens


Env = dict[str, Any]
Node = Callable[[Env], Any]


def binary(function: Callable[[Any, Any], Any], left: Node, right: Node) -> Node:
    return lambda env: function(left(env), right(env))


class Parser:
    """Recursive descent over the grammar::

        expr  := term (('+' | '-') term)*
        term  := unary (('*' | '/') unary)*
        unary := '-' unary | power
        power := atom ('^' unary)?
        atom  := NUMBER | PLACEHOLDER | FUNCTION '(' expr ')' | '(' expr ')' | '[' cond ']'
        cond  := 'not' cond | NAME | expr COMPARISON expr

    Each rule returns a function of the environment (placeholders and attributes -> arrays).
    """

    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.pos = text, tokenize(text), 0
        self.placeholders: set[str] = set()

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"derivative text {self.text!r}: expected {expected or 'more'}, got {token!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise ValueError(f"derivative text {self.text!r}: unexpected {self.peek()!r}")
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            symbol = self.take()
            node = binary(OPERATORS[symbol], node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            symbol = self.take()
            node = binary(OPERATORS[symbol], node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            inner = self.unary()
            return lambda e: -inner(e)
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            # right-associative, and x^-1 reads as x^(-1)
            return binary(OPERATORS["^"], base, self.unary())
        return base

    def atom(self) -> Node:
        token = self.take()
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            value = float(token)
            return lambda e: value
        if token.startswith("<"):
            name = token[1:-1]
            self.placeholders.add(name)
            return lambda e: e[name]
        if token in FUNCTIONS:
            function = FUNCTIONS[token]
            self.take("(")
            inner = self.expr()
            self.take(")")
            return lambda e: function(inner(e))
        if token == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if token == "[":
            cond = self.cond()
            self.take("]")
            return lambda e: np.where(cond(e), 1.0, 0.0)
        raise ValueError(f"derivative text {self.text!r}: unknown {token!r} (not in the translation table)")

    def cond(self) -> Node:
        if self.peek() == "not":
            self.take()
            inner = self.cond()
            return lambda e: np.logical_not(inner(e))
        if self.peek() in BOOLEAN_NAMES:
            name = self.take()
            return lambda e: np.asarray(e[name], dtype=bool)
        left = self.expr()
        op = self.take()
        if op not in COMPARISONS:
            raise ValueError(f"derivative text {self.text!r}: expected a comparison, got {op!r}")
        return binary(COMPARISONS[op], left, self.expr())


def evaluate_text(text: str, env: Env) -> np.ndarray:
    return np.asarray(Parser(text).parse()(env), dtype=np.float64)


# ---- each elementwise op's domain -------------------------------------------------------------
@dataclass(frozen=True)
class Domain:
    """How to draw one op's inputs: a range for each input and the attributes."""

    inputs: tuple[tuple[float, float], ...]  # (low, high) of each input's values
    attrs: Callable[[st.DrawFn, tuple[int, ...]], dict[str, Any]] = lambda draw, shape: {}
    exclude_near_zero: tuple[bool, ...] = ()  # per input: keep |value| >= 0.1 (a divisor)


ANY = (-10.0, 10.0)


def _mask(draw: st.DrawFn, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"mask": draw(arrays(np.bool_, shape))}


DOMAINS: dict[str, Domain] = {
    "add": Domain((ANY, ANY)),
    "sub": Domain((ANY, ANY)),
    "mul": Domain((ANY, ANY)),
    "div": Domain((ANY, ANY), exclude_near_zero=(False, True)),
    "where": Domain((ANY, ANY), attrs=_mask),
    "neg": Domain((ANY,)),
    "square": Domain((ANY,)),
    "exp": Domain(((-30.0, 30.0),)),
    "log": Domain(((1e-3, 1e3),)),
    "sigmoid": Domain(((-40.0, 40.0),)),
    "softplus": Domain(((-40.0, 40.0),)),
    "tanh": Domain(((-10.0, 10.0),)),
    "relu": Domain((ANY,)),  # including 0, where both say 0
    "abs": Domain((ANY,)),  # including 0, where both say sign(0) = 0
    # pow: an integer exponent on any nonzero x, a real one on positive x (pow_inputs below)
    "pow": Domain((ANY,), exclude_near_zero=(True,)),
}

#: The ops whose VJP in the threshold is a pseudo-derivative, not the derivative, and whose text
#: says so in words: tests/test_jumprelu_ops.py checks their texts and their VJPs.
PSEUDO_DERIVATIVE_OPS = {"jumprelu", "step"}
ELEMENTWISE = sorted(name for name, op in OPS.items() if op.elementwise and name not in PSEUDO_DERIVATIVE_OPS)


def test_every_elementwise_op_is_covered() -> None:
    """A new elementwise op without a domain here fails (and every domain names an op)."""
    assert set(DOMAINS) == set(ELEMENTWISE)
    assert PSEUDO_DERIVATIVE_OPS <= {name for name, op in OPS.items() if op.elementwise}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_text_parses_with_known_placeholders(name: str) -> None:
    op = OPS[name]
    allowed = {"x", "out", "p"} if op.arity == 1 else {"a", "b", "out"}
    for text in op.text:
        parser = Parser(text)
        parser.parse()
        assert parser.placeholders <= allowed, (name, text, parser.placeholders)


@st.composite
def op_inputs(draw: st.DrawFn, name: str) -> tuple[list[np.ndarray], dict[str, Any]]:
    domain = DOMAINS[name]
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    attrs = domain.attrs(draw, shape)
    if name == "pow":
        integer = draw(st.booleans())
        if integer:
            attrs = {"p": float(draw(st.integers(-4, 5)))}
        else:
            attrs = {"p": draw(st.floats(-3.0, 3.0, allow_nan=False))}
            domain = Domain(((1e-2, 10.0),))
    inputs = []
    for index, (low, high) in enumerate(domain.inputs):
        values = draw(arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False)))
        if index < len(domain.exclude_near_zero) and domain.exclude_near_zero[index]:
            values = np.where(np.abs(values) < 0.1, np.copysign(0.1, values) + values, values)
        inputs.append(values)
    return inputs, attrs


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """The largest entrywise ``|a - b| / max(|a|, |b|)`` (0 where both are 0)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    scale = np.maximum(np.abs(a), np.abs(b))
    diff = np.abs(a - b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)
    return float(ratio.max(initial=0.0))


@pytest.mark.parametrize("name", ELEMENTWISE)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_text_derivative_equals_the_vjp_at_g_one(name: str, data: st.DataObject) -> None:
    op = OPS[name]
    inputs, attrs = data.draw(op_inputs(name))
    out = np.asarray(op.forward(*inputs, **attrs), dtype=np.float64)
    grads = op.vjp(np.ones_like(out), out, tuple(inputs), attrs)
    env: Env = {"out": out, **attrs}
    if op.arity == 1:
        env["x"] = inputs[0]
    else:
        env["a"], env["b"] = inputs
    assert len(grads) == len(op.text) == len(inputs)
    for index, (text, grad) in enumerate(zip(op.text, grads)):
        expected = np.broadcast_to(evaluate_text(text, env), out.shape)
        grad = np.broadcast_to(np.asarray(grad, dtype=np.float64), out.shape)
        assert np.all(np.isfinite(expected)), (name, text)
        error = relative_error(grad, expected)
        assert error < TOLERANCE, f"{name}: d out / d input {index} is {text!r}; VJP differs by {error:.3g}"


def test_the_parser_reads_the_language_and_refuses_the_rest() -> None:
    x = np.array([-2.0, 0.0, 3.0])
    env = {"x": x, "a": x, "b": 2.0, "mask": np.array([True, False, True])}
    np.testing.assert_array_equal(evaluate_text("-<x>^2", env), -(x**2))
    np.testing.assert_array_equal(evaluate_text("2^3^2", env), 2.0 ** 9)
    np.testing.assert_array_equal(evaluate_text("1 - 2 - 3", env), -4.0)
    np.testing.assert_array_equal(evaluate_text("8 / 4 / 2", env), 1.0)
    np.testing.assert_array_equal(evaluate_text("[<x> > 0]", env), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(evaluate_text("[not mask]", env), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(evaluate_text("sign(<a>) * <b>", env), [-2.0, 0.0, 2.0])
    for bad in ("__import__(1)", "log(<x>)", "<x> ** 2", "[<x>]", "<x> @ <x>", "(1", "1)"):
        with pytest.raises((ValueError, KeyError)):
            evaluate_text(bad, env)
