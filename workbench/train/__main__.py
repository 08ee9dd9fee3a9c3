import sys

from workbench.train.runner import main

raise SystemExit(main(sys.argv[1:]))
