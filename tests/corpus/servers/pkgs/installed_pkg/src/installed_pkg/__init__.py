"""A src-layout package of this repository, installed into the image with `pip install .`."""
