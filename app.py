"""Entry point for `flask --app app` and gunicorn (`app:app`)."""

from fieldwork import create_app

app = create_app(exit_on_error=True)
