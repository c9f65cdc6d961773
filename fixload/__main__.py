import sys

from fixload.cli.main import main

sys.exit(main())
