# The sotay image: `sotay up` (all-in-one, embedded NATS and PostgreSQL) by
# default; docker-compose.yml runs `sotay serve <service>` and `sotay migrate`.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/sotay
# The lock first, so that a change to the code alone reuses this layer.
COPY requirements.lock /src/
RUN /opt/sotay/bin/pip install --require-hashes -r /src/requirements.lock
COPY pyproject.toml /src/
COPY sotay /src/sotay
COPY services /src/services
RUN /opt/sotay/bin/pip install --no-deps /src

FROM python:3.11-slim
# A fixed uid, so that files on volumes keep their owner across rebuilds.
# The data dir and its keys/ exist owned by that user, so that a new named
# volume mounted on them starts out writable by it.
RUN useradd --system --uid 10001 --home-dir /var/lib/sotay sotay \
    && mkdir -p /var/lib/sotay/keys \
    && chown -R sotay:sotay /var/lib/sotay
COPY --from=build /opt/sotay /opt/sotay
# The pages (handbook, dashboard, consoles) that `sotay up` and `sotay serve` answer at / and
# /console/: the installed package has no web/ beside it, so SOTAY_WEB_DIR names where they are.
COPY web /opt/sotay/web
ENV PATH=/opt/sotay/bin:$PATH \
    SOTAY_WEB_DIR=/opt/sotay/web \
    PYTHONUNBUFFERED=1 \
    SOTAY_DATA_DIR=/var/lib/sotay \
    SOTAY_HTTP_HOST=0.0.0.0
USER sotay
WORKDIR /var/lib/sotay
EXPOSE 8000
CMD ["sotay", "up"]
