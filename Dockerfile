# fixload: the Locust master, workers and the embedded Fixnado simulator, from one image.
#   docker build -t fixload .                                   (docker-compose.yml builds it for you)
#   docker build --build-arg BASE_IMAGE=fixload-base:bookworm .  (offline: a local Debian base, see scripts/compose-test)
# Any Debian-like base with python3.11, its venv module and useradd works; fixload goes into a virtualenv
# (/opt/venv) so a distribution's own Python (PEP 668 "externally managed") is never touched.
# Profiles and the .env are mounted at run time (see docker-compose.yml), never baked in.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /opt/fixload
COPY pyproject.toml ./
# The dependencies in a layer of their own, rebuilt only when pyproject.toml changes: a stub of the package
# pulls them in; the real code then installs on top, without its dependencies.
RUN python3 -m venv /opt/venv \
    && mkdir -p fixload locustfiles \
    && touch README.md fixload/__init__.py locustfiles/__init__.py \
    && pip install . \
    && rm -rf README.md fixload locustfiles build fixload.egg-info
COPY README.md ./
COPY fixload ./fixload
COPY locustfiles ./locustfiles
RUN pip install --no-deps --force-reinstall . \
    && rm -rf build fixload.egg-info \
    && useradd --uid 1000 --create-home --shell /usr/sbin/nologin fixload \
    && mkdir -p /shared /work/profiles /work/reports \
    && chmod 1777 /shared /work/reports

# The locustfiles are loaded from /opt/fixload/locustfiles (the package is installed in the venv);
# reports go to /work/reports (mount it), the simulator's .env to /shared (a volume shared with the others).
# The default user is uid 1000; compose runs the services as FIXLOAD_UID:FIXLOAD_GID (your own ids) so the
# mounted reports/ stays yours, which is why /shared and /work/reports are writable by any user.
USER 1000:1000
EXPOSE 8089 5557 4000
CMD ["fixload", "--help"]
