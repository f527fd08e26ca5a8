# One image for the three production processes: `booking serve`, `booking project`,
# `booking schedule` (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install . \
    && useradd --system --no-create-home booking
USER booking

EXPOSE 8000
CMD ["booking", "serve", "--host", "0.0.0.0", "--port", "8000"]
