import sys

from stacktest.cli.entry import main

sys.exit(main())
