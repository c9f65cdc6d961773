# fixload: the Locust master, workers and the embedded Fixnado simulator, from one image.
#   docker build -t fixload .        (docker-compose.yml builds it for you)
# Profiles and the .env are mounted at run time (see docker-compose.yml), never baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/fixload
COPY pyproject.toml README.md ./
COPY fixload ./fixload
COPY locustfiles ./locustfiles
RUN pip install . \
    && useradd --uid 1000 --create-home --shell /usr/sbin/nologin fixload \
    && mkdir -p /shared /work/profiles /work/reports \
    && chown fixload:fixload /shared /work/reports

# The locustfiles are loaded from /opt/fixload/locustfiles (the package is installed in site-packages);
# reports go to /work/reports (mount it), the simulator's .env to /shared (a volume shared with the others).
USER fixload
EXPOSE 8089 5557 4000
CMD ["fixload", "--help"]
