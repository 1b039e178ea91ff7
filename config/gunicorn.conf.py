"""gunicorn's settings for the Procfile's web line (`gunicorn --config config/gunicorn.conf.py`).

Values only: rapidresponse.settings reads the environment (LISTEN_HOST, PORT)."""

from rapidresponse.settings import SettingsError, web_bind_from_env

try:
    bind = [web_bind_from_env()]
except SettingsError as exc:
    raise SystemExit(f"rapidresponse web: {exc}") from None
workers = 2
threads = 4
# gunicorn 27 would create a control socket under $HOME.
control_socket_disable = True
accesslog = "-"
# The path only: never the query string or the referrer, either of which may carry a number.
# Labels keep the figures apart: "200 2335 173" would look like a phone number to the masker.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s bytes=%(b)s ms=%(M)s'
# The masking filter on gunicorn's own error and access logs too.
logger_class = "rapidresponse.logs.GunicornLogger"


def post_worker_init(worker: object) -> None:
    """Each web worker, its app loaded: start-up's heap out of the collector's full passes (heap.py)."""
    from rapidresponse.heap import freeze_startup

    freeze_startup()
