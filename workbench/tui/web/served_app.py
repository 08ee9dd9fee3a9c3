"""`python -m workbench.tui.web.served_app STORE`: the app, as `workbench` opens it, in the process
textual-serve starts for one browser tab (its terminal is the web driver textual-serve sets in the
environment; `workbench` itself refuses to start without a terminal)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from workbench.tui.app import run_app

if __name__ == "__main__":
    raise SystemExit(run_app(SimpleNamespace(store=sys.argv[1])))
