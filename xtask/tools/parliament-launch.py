"""Runs parliament's command line with its log inside the checkout.

parliament writes /tmp/parliament.log on every run; on a machine where another user ran it
first, that file is theirs and parliament stops with EACCES. PARLIAMENT_LOG names the file
to use instead.
"""

import os
import sys

from parliament import cli

LOG = os.environ["PARLIAMENT_LOG"]


def _open_with_the_log_moved(file, *args, **kwargs):
    if file == "/tmp/parliament.log":
        file = LOG
    return open(file, *args, **kwargs)


# `open` inside parliament's cli module now resolves to this function; nothing else changes.
cli.open = _open_with_the_log_moved
sys.exit(cli.main(sys.argv))
