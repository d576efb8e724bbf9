"""The searching checker of lesson 7 (tinysae.exercises.vae): the right answer passes every check,
every known mistake and every plausible wrong answer is named at a shrunk counterexample, student
bugs are reported, the search reaches the edge cases, and the numpy formulas the mistakes are
built on agree with the engine's KL term and its gradients."""

from __future__ import annotations

import numpy as np
import pytest
from exercise_helpers import REACH, assert_named, assert_passes, assert_wrong_answer_named
from hypothesis import find, given, settings
from hypothesis import strategies as st
from strategies import seeds
from wrong_answers.vae import WRONG_ANSWERS

from tinysae.autograd import numerical_gradient
from tinysae.exercises import (
    FAIL_MARK,
    GAUSSIAN_KL_MISTAKES,
    check_gaussian_kl,
)
from tinysae.exercises import vae as exercise

# ----------------------------------------------------------------------------- student solutions
# Written the way a student would, not by calling tinysae.


def student_gaussian_kl(mu, logvar):
    m = mu.shape[0]
    kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar) / m
    return kl, mu / m, 0.5 * (np.exp(logvar) - 1) / m


def as_list(mu, logvar):
    kl, dmu, dlogvar = student_gaussian_kl(mu, logvar)
    return [float(kl), dmu.tolist(), dlogvar]


@pytest.mark.parametrize("solution", [student_gaussian_kl, as_list, exercise._gaussian_kl],
                         ids=["numpy", "list_and_float", "engine"])
def test_the_right_answer_passes_every_check_and_says_so(solution, capsys) -> None:
    assert_passes(check_gaussian_kl(solution), capsys.readouterr().out, "gaussian_kl", 2)


# ----------------------------------------------------------------------------- known mistakes


@pytest.mark.parametrize("mistake", GAUSSIAN_KL_MISTAKES, ids=[m.key for m in GAUSSIAN_KL_MISTAKES])
def test_each_known_mistake_is_named_at_a_shrunk_counterexample(mistake) -> None:
    feedback = check_gaussian_kl(mistake.compute, verbose=False)
    assert_named(feedback, mistake.key, mistake.hint)


def test_the_mistakes_have_distinct_keys_and_differ_on_the_probes() -> None:
    keys = [mistake.key for mistake in GAUSSIAN_KL_MISTAKES]
    assert len(set(keys)) == len(keys)
    probes = exercise._kl_probes()

    def flat(function) -> np.ndarray:
        return np.concatenate([np.ravel(a) for probe in probes for a in function(*probe)])

    outputs = [flat(mistake.compute) for mistake in GAUSSIAN_KL_MISTAKES]
    right = flat(student_gaussian_kl)
    for i, out in enumerate(outputs):
        assert not np.allclose(out, right, rtol=1e-6)
        for j in range(i):
            assert not np.allclose(out, outputs[j], rtol=1e-6), (keys[i], keys[j])


@pytest.mark.parametrize("answer", WRONG_ANSWERS, ids=lambda a: a.title)
def test_each_plausible_wrong_answer_fails_and_is_named(answer) -> None:
    assert_wrong_answer_named(answer)


def test_a_forgotten_half_shows_one_sample_of_one_coordinate(capsys) -> None:
    feedback = check_gaussian_kl(GAUSSIAN_KL_MISTAKES[0].compute)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{FAIL_MARK} gaussian_kl: not yet"
    assert printed[1] == "  check 1 of 2 (log-variances 0) failed: kl and dmu are wrong (dlogvar is right)"
    assert "    mu = [[1.]]  (shape (1, 1))" in printed and "    logvar = [[0.]]  (shape (1, 1))" in printed
    assert ["    kl = 0.5", "    kl = 1."] == [line for line in printed if line.startswith("    kl =")]
    assert feedback.mistake == "no_half"


def test_a_mistake_in_the_log_variance_fails_only_where_it_is_not_0() -> None:
    feedback = check_gaussian_kl(GAUSSIAN_KL_MISTAKES[-2].compute, verbose=False)  # dlogvar_no_half
    assert feedback.details[0] == ("check 2 of 2 (any log-variances) failed: "
                                   "dlogvar is wrong (kl and dmu are right)")


@pytest.mark.parametrize("offset", [0.3, -1.0, 1e-3])
def test_a_value_off_by_a_constant_is_no_known_mistake(offset) -> None:
    def value_off(mu, logvar):
        kl, dmu, dlogvar = student_gaussian_kl(mu, logvar)
        return kl + offset, dmu, dlogvar

    feedback = check_gaussian_kl(value_off, verbose=False)
    assert feedback.status == "failed" and feedback.mistake is None
    assert feedback.details[0].endswith("kl is wrong (dmu and dlogvar are right)")


# ----------------------------------------------------------------------------- student bugs


def test_not_implemented_is_not_done_yet() -> None:
    def stub(mu, logvar):
        raise NotImplementedError()

    feedback = check_gaussian_kl(stub, verbose=False)
    assert not feedback.passed and feedback.status == "not done" and "not done yet" in feedback.hint


def test_an_exception_could_not_run_and_quotes_the_students_line() -> None:
    def broken(mu, logvar):
        return np.log(mu).sum(), mu[10], logvar

    feedback = check_gaussian_kl(broken, verbose=False)
    assert feedback.status == "could not run" and feedback.mistake is None
    assert "IndexError" in feedback.details[0]
    assert "return np.log(mu).sum(), mu[10], logvar" in feedback.details[0]


@pytest.mark.parametrize(("wrong_shape", "message"), [
    (lambda mu, logvar: (np.full(mu.shape[0], student_gaussian_kl(mu, logvar)[0]),
                         *student_gaussian_kl(mu, logvar)[1:]), "kl has shape (1,), expected ()"),
    (lambda mu, logvar: student_gaussian_kl(mu, logvar)[:2],
     "return 3 values (kl, dmu, dlogvar); got a tuple of 2"),
    (lambda mu, logvar: 0.0, "return 3 values (kl, dmu, dlogvar); got a float"),
    (lambda mu, logvar: (None, mu, logvar), "kl is None"),
    (lambda mu, logvar: None, "did you forget `return kl, dmu, dlogvar`?"),
], ids=["per_sample", "pair", "number", "none_inside", "none"])
def test_a_wrong_shape_or_return_could_not_run(wrong_shape, message) -> None:
    feedback = check_gaussian_kl(wrong_shape, verbose=False)
    assert not feedback.passed and feedback.status == "could not run"
    assert message in feedback.details[0]


def test_an_input_changed_in_place_is_reported() -> None:
    def in_place(mu, logvar):
        logvar -= 1.0
        return student_gaussian_kl(mu, logvar)

    feedback = check_gaussian_kl(in_place, verbose=False)
    assert not feedback.passed and "changed one of its inputs in place" in feedback.details[0]


# ----------------------------------------------------------------------------- the search


@pytest.mark.parametrize(("check", "condition"), [
    (0, lambda a: a[0].shape == (1, 1) and not a[0].any()),
    (0, lambda a: a[0].shape == (3, 3) and not a[1].any()),
    (1, lambda a: a[1].min() == -2 and a[1].max() == 2),
    (1, lambda a: a[0].shape == (1, 3) and not a[1].any()),
], ids=["m1_d1_zeros", "m3_d3", "logvar_both_signs", "logvar_0_in_check_2"])
def test_the_search_reaches_the_edge_cases(check, condition) -> None:
    assert condition(find(exercise._GAUSSIAN_KL.checks[check].strategy, condition, settings=REACH))


def test_the_first_check_holds_every_log_variance_at_0() -> None:
    strategy = exercise._GAUSSIAN_KL.checks[0].strategy
    mu, logvar = find(strategy, lambda a: a[0].size >= 4 and a[0].all(), settings=REACH)
    assert not logvar.any() and logvar.shape == mu.shape


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
