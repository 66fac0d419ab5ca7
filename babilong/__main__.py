import sys

from babilong.cli import main

sys.exit(main())
