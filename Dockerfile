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
COPY examples ./examples
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["govbus"]
