import sys

from vicheck.cli import main

sys.exit(main())
