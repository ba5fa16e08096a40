# 'trailscope watch' as a container (see docs/scale.md). Build from the repository's root:
#   docker build -f deploy/watch.Dockerfile -t trailscope-watch .
# Run (alert destinations from the environment, never on the command line):
#   docker run -d --restart unless-stopped -v /srv/trailscope:/lake \
#     -e TRAILSCOPE_ALERTS=webhook=https://hooks.example.com/x \
#     trailscope-watch s3://trail-bucket/AWSLogs/ --lake /lake --every 5m
FROM python:3.12-slim

COPY pyproject.toml README.md LICENSE /tmp/trailscope/
COPY trailscope /tmp/trailscope/trailscope
RUN pip install --no-cache-dir /tmp/trailscope && rm -rf /tmp/trailscope \
    && useradd --system --home-dir /lake trailscope
USER trailscope
# 'docker stop' sends SIGTERM: the running cycle finishes and the watch exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["trailscope", "watch"]
