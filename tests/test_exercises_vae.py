"""The checker of lesson 7 (tinysae.exercises.vae): the right answer passes, every known mistake
is named, wrong shapes and returns are reported, and the numpy formulas the mistakes are built on
agree with the engine's KL term and its gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

from tinysae.autograd import numerical_gradient
from tinysae.exercises import (
    FAIL_MARK,
    GAUSSIAN_KL_MISTAKES,
    GAUSSIAN_KL_OUTPUTS,
    PASS_MARK,
    Feedback,
    check_gaussian_kl,
)
from tinysae.exercises import vae as exercise

# ----------------------------------------------------------------------------- student solutions
# Written the way a student would, not by calling tinysae.


def student_gaussian_kl(mu, logvar):
    m = mu.shape[0]
    kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar) / m
    return kl, mu / m, 0.5 * (np.exp(logvar) - 1) / m


def test_the_right_answer_passes_and_says_so(capsys) -> None:
    feedback = check_gaussian_kl(student_gaussian_kl)
    assert isinstance(feedback, Feedback)
    assert feedback.passed and feedback.hint is None and feedback.mistake is None
    assert set(feedback.errors) == set(GAUSSIAN_KL_OUTPUTS) and max(feedback.errors.values()) < 1e-12
    printed = capsys.readouterr().out
    assert printed.startswith(PASS_MARK) and FAIL_MARK not in printed


def test_a_list_and_a_float_are_accepted() -> None:
    def as_list(mu, logvar):
        kl, dmu, dlogvar = student_gaussian_kl(mu, logvar)
        return [float(kl), dmu.tolist(), dlogvar]

    assert check_gaussian_kl(as_list, verbose=False).passed


# ----------------------------------------------------------------------------- known mistakes


@pytest.mark.parametrize("mistake", GAUSSIAN_KL_MISTAKES, ids=[m.key for m in GAUSSIAN_KL_MISTAKES])
def test_each_known_mistake_gets_its_hint(mistake) -> None:
    feedback = check_gaussian_kl(mistake.compute, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key and feedback.hint == mistake.hint


def test_the_mistakes_have_distinct_keys_and_outputs() -> None:
    keys = [mistake.key for mistake in GAUSSIAN_KL_MISTAKES]
    assert len(set(keys)) == len(keys)
    args = exercise._kl_cases()[0].args
    outputs = [np.concatenate([np.ravel(a) for a in mistake.compute(*args)])
               for mistake in GAUSSIAN_KL_MISTAKES]
    right = np.concatenate([np.ravel(a) for a in student_gaussian_kl(*args)])
    for i, out in enumerate(outputs):
        assert not np.allclose(out, right, rtol=1e-6)
        for j in range(i):
            assert not np.allclose(out, outputs[j], rtol=1e-6), (keys[i], keys[j])


@pytest.mark.parametrize("mistake", GAUSSIAN_KL_MISTAKES, ids=[m.key for m in GAUSSIAN_KL_MISTAKES])
def test_the_feedback_marks_exactly_the_outputs_a_mistake_breaks(mistake) -> None:
    feedback = check_gaussian_kl(mistake.compute, verbose=False)
    args = exercise._kl_cases()[0].args
    for name, a, b in zip(GAUSSIAN_KL_OUTPUTS, student_gaussian_kl(*args), mistake.compute(*args)):
        mark = PASS_MARK if np.allclose(a, b, rtol=1e-9, atol=0) else FAIL_MARK
        assert any(line.startswith(f"{mark} {name}") for line in feedback.details), (name, feedback.details)


def test_forgetting_the_half_is_named_in_plain_words(capsys) -> None:
    def no_half(mu, logvar):
        m = mu.shape[0]
        return np.sum(mu**2 + np.exp(logvar) - 1 - logvar) / m, 2 * mu / m, (np.exp(logvar) - 1) / m

    feedback = check_gaussian_kl(no_half)
    printed = capsys.readouterr().out
    assert feedback.mistake == "no_half" and "did you forget the 1/2?" in printed
    assert f"{FAIL_MARK} kl" in printed and f"{FAIL_MARK} dmu" in printed


def test_an_unknown_error_is_localised() -> None:
    def value_off(mu, logvar):
        kl, dmu, dlogvar = student_gaussian_kl(mu, logvar)
        return kl + 0.3, dmu, dlogvar

    feedback = check_gaussian_kl(value_off, verbose=False)
    assert not feedback.passed and feedback.mistake is None and "the gradients are right" in feedback.hint

    def gradient_off(mu, logvar):
        kl, dmu, dlogvar = student_gaussian_kl(mu, logvar)
        return kl, dmu * 1.1, dlogvar

    feedback = check_gaussian_kl(gradient_off, verbose=False)
    assert feedback.mistake is None and "differentiate one coordinate" in feedback.hint


# ----------------------------------------------------------------------------- student bugs
# (exceptions, stubs, a missing return and non-functions: tests/test_exercises.py, for every checker)


def test_wrong_shapes_and_returns_are_reported() -> None:
    def transposed(mu, logvar):
        kl, dmu, dlogvar = student_gaussian_kl(mu, logvar)
        return kl, dmu.T, dlogvar

    feedback = check_gaussian_kl(transposed, verbose=False)
    text = "\n".join(feedback.details)
    assert "dmu has shape (3, 6), expected (6, 3)" in text and "right but transposed" in text
    assert f"{PASS_MARK} kl" in text and f"{PASS_MARK} dlogvar" in text

    def per_sample(mu, logvar):  # the KL of each sample, not their mean
        kl, dmu, dlogvar = student_gaussian_kl(mu, logvar)
        return np.full(mu.shape[0], kl), dmu, dlogvar

    feedback = check_gaussian_kl(per_sample, verbose=False)
    assert any("kl has shape (6,), expected ()" in line for line in feedback.details)

    feedback = check_gaussian_kl(lambda mu, logvar: student_gaussian_kl(mu, logvar)[:2], verbose=False)
    assert "return a triple (kl, dmu, dlogvar); got a tuple of 2" in feedback.details[1]
    feedback = check_gaussian_kl(lambda mu, logvar: 0.0, verbose=False)
    assert "return a triple (kl, dmu, dlogvar); got float" in feedback.details[1]
    feedback = check_gaussian_kl(lambda mu, logvar: (None, mu, logvar), verbose=False)
    assert "kl is None" in feedback.details[1]


def test_inputs_changed_in_place_are_reported() -> None:
    def in_place(mu, logvar):
        logvar -= 1.0
        return student_gaussian_kl(mu, logvar)

    feedback = check_gaussian_kl(in_place, verbose=False)
    assert not feedback.passed
    assert any("changed its input logvar in place" in line for line in feedback.details)


# ----------------------------------------------------------------------------- the references used


@settings(max_examples=20)
@given(st.integers(1, 6), st.integers(1, 4), seeds)
def test_the_numpy_formulas_are_the_engines_kl_and_its_gradients(m, d, seed) -> None:
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(0, 1.5, (m, d)), rng.uniform(-2, 2, (m, d))
    reference = exercise._gaussian_kl(mu, logvar)
    for ours, theirs in zip(exercise._kl_variant(mu, logvar), reference):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    for ours, theirs in zip(student_gaussian_kl(mu, logvar), reference):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)

    def kl_at(values, which):
        args = (values, logvar) if which == "mu" else (mu, values)
        return float(exercise._gaussian_kl(*args)[0])

    np.testing.assert_allclose(numerical_gradient(lambda v: kl_at(v, "mu"), mu), reference[1], rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(numerical_gradient(lambda v: kl_at(v, "logvar"), logvar), reference[2],
                               rtol=1e-6, atol=1e-9)
