"""The image's own start-up hook: the service relies on what it sets."""

import os

os.environ["SITE_MARK"] = "set by the image's sitecustomize"
