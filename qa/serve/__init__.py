"""Serving over HTTP: the FastAPI app, its schemas, errors, middleware, hot reload and the search page."""
