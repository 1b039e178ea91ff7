"""The WSGI entry point: `gunicorn wsgi:app`. A bad setting stops start-up with one line naming it."""

from rapidresponse.cli import app_or_exit

app = app_or_exit()
