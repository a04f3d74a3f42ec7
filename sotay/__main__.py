"""`python -m sotay`: the `sotay` command."""

import sys

from sotay.system.cli import main

sys.exit(main())
