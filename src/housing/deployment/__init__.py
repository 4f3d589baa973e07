"""The prediction service: a Flask app factory served by gunicorn."""
