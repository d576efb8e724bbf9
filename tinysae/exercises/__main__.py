"""``python -m tinysae.exercises SOURCE.ipynb DESTINATION.ipynb``: write the student version of a
lesson notebook (see :func:`tinysae.exercises.solutions.main`)."""

from tinysae.exercises.solutions import main

if __name__ == "__main__":
    raise SystemExit(main())
