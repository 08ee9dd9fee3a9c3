import sys

from workbench.train.main import main

raise SystemExit(main(sys.argv[1:]))
