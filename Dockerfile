# regie-chaleur: one image for the API/web service, the collector, the scheduler and the simulator.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 regie
WORKDIR /app
COPY pyproject.toml README.md ./
COPY regie_chaleur ./regie_chaleur
COPY telemetry ./telemetry
COPY billing ./billing
COPY models ./models
RUN pip install .
USER regie
ENV REGIE_DATA_DIR=/var/lib/regie-chaleur
EXPOSE 8000
ENTRYPOINT ["regie-chaleur"]
CMD ["serve", "--host", "0.0.0.0"]
