"""``python -m mmvision.cli``: the same as the ``mmvision`` command."""

import sys

from mmvision.cli import main

sys.exit(main())
