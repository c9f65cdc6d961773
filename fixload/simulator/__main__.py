"""`python -m fixload.simulator` = `fixload serve`."""

import sys

from .serve import main

sys.exit(main())
