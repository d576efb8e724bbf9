"""``python -m tinysae.experiments [NAME ...] [--quick] [--out DIR] [--data digits|mnist]
[--mnist-dir DIR]``: :func:`tinysae.experiments.main`."""

import sys

from tinysae.experiments import main

sys.exit(main())
