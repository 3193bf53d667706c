"""``python -m text2ml_jupyter ...``: the same as the ``text2ml`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
