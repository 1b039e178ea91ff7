"""rapidresponse: SMS and phone-tree rapid response for community mutual-aid networks."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from rapidresponse import web
from rapidresponse.privacy import keycheck
from rapidresponse.services import Services, build_services
from rapidresponse.settings import Settings

csrf = CSRFProtect()


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Wire the app together; nothing else happens here but the key check (privacy/keycheck.py)."""
    if services is None:
        services = build_services(settings or Settings.from_env())
        try:
            keycheck.check(services.db, services.settings)
        except BaseException:
            services.db.engine.dispose()
            services.redis.close()
            raise
    else:
        keycheck.check(services.db, services.settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=str(services.settings.secret_key),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=services.settings.public_base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["rapidresponse"] = services
    if services.settings.trusted_proxy_hops:
        hops = services.settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    csrf.init_app(app)
    web.init_app(app, https=services.settings.public_base_url.startswith("https://"))

    from rapidresponse.console.routes import bp as console_bp
    from rapidresponse.simulator.routes import bp as simulator_bp
    from rapidresponse.webhooks.campaign_calls import bp as campaign_calls_bp
    from rapidresponse.webhooks.hotline import bp as hotline_bp
    from rapidresponse.webhooks.routes import bp as webhooks_bp
    from rapidresponse.webhooks.voice_alerts import bp as voice_alerts_bp

    csrf.exempt(webhooks_bp)  # Twilio signs its requests instead
    csrf.exempt(voice_alerts_bp)
    csrf.exempt(campaign_calls_bp)
    csrf.exempt(hotline_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(voice_alerts_bp)
    app.register_blueprint(campaign_calls_bp)
    app.register_blueprint(hotline_bp)
    app.register_blueprint(console_bp)
    if services.settings.provider_name == "simulator":
        app.register_blueprint(simulator_bp)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(ok=True, provider=services.settings.provider_name)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        # Twilio and browsers get a short plain answer; never a stack trace.
        return f"{exc.code} {exc.name}: {exc.description}\n", exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str, int]:
        logging.getLogger("rapidresponse").exception("unhandled error on %s %s", request.method, request.path)
        return "500 Internal Server Error: the error was logged\n", 500

    return app
