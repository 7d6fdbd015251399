# The replenish worker image: `replenish <command>`, CPU build of torch.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REPLENISH_CACHE_DIR=/home/replenish/cache \
    REPLENISH_WEB_HOST=0.0.0.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY forecasting ./forecasting
COPY optimization ./optimization
# The bundled checkpoint and dataset are found next to the packages, so the
# install is editable: the code runs from /app.
COPY data ./data
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -e .

RUN useradd --create-home --uid 10001 replenish
USER replenish

# The worker serves /metrics here, on every interface of the container.
EXPOSE 6066
ENTRYPOINT ["replenish"]
CMD ["worker", "--bootstrap-servers", "kafka:9092"]
