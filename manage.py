#!/usr/bin/env python
"""Django's command-line utility for the dbsessions demo site."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Run ./scripts/demo.sh or ./scripts/bootstrap.sh to build "
            "the virtualenv, then activate it with 'source .venv/bin/activate'."
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
