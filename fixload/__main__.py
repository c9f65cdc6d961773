import sys

from fixload.cli import main

sys.exit(main())
