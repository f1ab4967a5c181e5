# The govbus image: the CLI, the processors and the faust worker.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY govbus ./govbus
COPY exchange ./exchange
COPY schemas ./schemas
COPY producers ./producers
COPY consumers ./consumers
COPY storage ./storage
COPY topology ./topology
COPY monitoring ./monitoring
COPY operations ./operations
COPY kafkaclient ./kafkaclient
COPY base ./base
COPY examples ./examples
RUN pip install --no-cache-dir ".[faust]"
# Mount points of docker-compose's volumes; a new volume takes these owners and modes.
# /mnt/shared/config: the broker's configuration, read by apache/kafka's appuser (uid 1000);
# /var/lib/govbus/ca: the CA (ca.crt readable by all, ca.key 0600 to uid 1000);
# /var/lib/govbus/secrets: the processors' credentials file, the govbus user's only.
RUN mkdir -p /mnt/shared/config /var/lib/govbus/ca /var/lib/govbus/secrets \
 && chown 1000:1000 /mnt/shared/config /var/lib/govbus/ca \
 && chmod 755 /var/lib/govbus/ca \
 && chown nobody /var/lib/govbus/secrets && chmod 700 /var/lib/govbus/secrets
USER nobody
ENTRYPOINT ["govbus"]
