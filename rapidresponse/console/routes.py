"""Console routes (placeholder until the console lands)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, template_folder="templates")
