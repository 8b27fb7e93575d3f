# One image for every process of the platform (web, worker, beat, streams, simulator);
# docker-compose.yml chooses the command. Settings: trading_site.settings.production.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=trading_site.settings.production

WORKDIR /app

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Static files for the proxy in front to serve (daphne serves none). Production settings
# need their variables to load; these placeholders are used only for this build step.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
    FIELD_ENCRYPTION_KEYS=collectstatic-only DATABASE_URL=postgres://unused/unused \
    REDIS_URL=redis://unused:6379/0 \
    python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 app

USER app
EXPOSE 8000
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "--proxy-headers", "trading_site.asgi:application"]
