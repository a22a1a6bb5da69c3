# One image, two commands: the dashboard and the collector.
#   docker build -t chargeline .
#   docker run -p 8501:8501 -e CHARGELINE_DATABASE_URL=... chargeline            (dashboard)
#   docker run -e CHARGELINE_DATABASE_URL=... chargeline chargeline collector      (collector)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CHARGELINE_DATA_DIR=/var/lib/chargeline \
    CHARGELINE_DATABASE_URL=sqlite:////var/lib/chargeline/chargeline.db

RUN groupadd --system chargeline \
    && useradd --system --gid chargeline --home-dir /opt/chargeline --shell /usr/sbin/nologin chargeline \
    && mkdir -p /opt/chargeline /var/lib/chargeline \
    && chown chargeline:chargeline /var/lib/chargeline

WORKDIR /opt/chargeline
COPY pyproject.toml README.md ./
COPY chargeline ./chargeline
COPY store ./store
COPY collectors ./collectors
COPY metrics ./metrics
COPY rules ./rules
COPY alerting ./alerting
COPY app ./app
COPY simulator ./simulator
RUN pip install --no-cache-dir .

USER chargeline
VOLUME ["/var/lib/chargeline"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').read()!=b'ok')"
CMD ["chargeline", "dashboard", "--address", "0.0.0.0", "--port", "8501"]
