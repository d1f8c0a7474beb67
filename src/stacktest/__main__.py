import sys

from stacktest._entry import main

sys.exit(main())
