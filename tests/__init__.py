"""The suite: unit (domain), integration (real SQLite and PostgreSQL), e2e (HTTP and CLI).

The suite starts eight workers and some seventy ``booking`` processes. Where the environment
asks Python not to write bytecode (``PYTHONDONTWRITEBYTECODE``), each of them would compile the
product again, and pytest would rewrite every test module again in every worker: about a
fifth of the suite's wall time on two cores. So the suite writes bytecode caches (in the
ignored ``__pycache__`` folders) and lets the processes it starts read and write them too.
"""

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
