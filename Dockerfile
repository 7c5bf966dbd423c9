FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/app/var
WORKDIR /app

# Editable install: the code runs from /app, next to templates/, jinja2/ and static/.
COPY . .
RUN pip install -e . \
    && useradd --create-home app \
    && mkdir -p /app/var/media \
    && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "8", "--worker-class", "gthread", "--access-logfile", "-"]
