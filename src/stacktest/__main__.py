import sys

from stacktest.cli import main

sys.exit(main())
