# python:3.11-slim-stacktest: a stand-in for the official python:3.11-slim image (no registry here).
# Debian bookworm's CPython 3.11 in a virtualenv first on PATH, so that `python` and `pip` work as in the
# official image, with every package of requirements.txt preinstalled from wheels downloaded on the
# host. Containers reach no index: a repository's ordinary `pip install -r requirements.txt` finds its
# requirements already satisfied, and `pip install .` builds with the setuptools installed here.
FROM stacktest-base:bookworm
ENV LANG=C.UTF-8 PYTHON_VERSION=3.11
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY wheels/ /opt/wheels/
RUN pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /opt/wheels \
        -r /opt/wheels/requirements.txt \
    && rm /opt/wheels/requirements.txt
# offline pip: only the wheels above; PIP_NO_BUILD_ISOLATION=0 is pip's way to say --no-build-isolation
# (its environment value sets the option's stored value: build_isolation = False)
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/wheels PIP_NO_BUILD_ISOLATION=0 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
CMD ["python3"]
