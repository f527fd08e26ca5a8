# One image for the four production processes: `booking serve`, `booking project`,
# `booking schedule` and `booking deliver` (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The dependencies first, pinned, in a layer of their own: rebuilt only when constraints.txt
# changes, not on every change of the code.
COPY constraints.txt /app/
RUN pip install --no-deps -r constraints.txt

# Then the project itself, against exactly those (pip check fails the build if one is missing).
COPY . /app
RUN pip install --no-deps . \
    && pip check \
    && useradd --system --no-create-home booking \
    && install -d -o booking /var/lib/booking
# /var/lib/booking: the one place the processes write (the deliverer's --alive-file)
USER booking

EXPOSE 8000
CMD ["booking", "serve", "--host", "0.0.0.0", "--port", "8000"]
