"""Shared helpers, imported by the locustfiles beside this folder."""


def login(client, username, password):
    """Log in with a form post, as the quick start's on_start does."""
    return client.post("/login", {"username": username, "password": password})
