VALUE = "found on the image's PYTHONPATH"
