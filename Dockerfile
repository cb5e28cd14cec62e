# The image behind docker-compose.yml's web, worker and beat services.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc pkg-config libmariadb-dev gettext \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY xiaozhi_hub ./xiaozhi_hub
COPY endpoints ./endpoints
COPY chathistory ./chathistory
RUN pip install --no-cache-dir .
COPY . .
# The interface's translations: the .mo files are compiled from locale/'s .po files.
RUN for po in locale/*/LC_MESSAGES/*.po; do msgfmt --check-format -o "${po%.po}.mo" "$po"; done

RUN useradd --system --home /app hub && mkdir -p /app/data && chown hub /app/data
USER hub
EXPOSE 8000
