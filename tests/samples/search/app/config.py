"""Reading the application's settings from a TOML file and the environment."""

import os
import tomllib

DEFAULTS = {"port": 8080, "debug": False}


def load_settings(path):
    """Read settings from a TOML file, then let environment variables override them."""
    with open(path, "rb") as f:
        settings = {**DEFAULTS, **tomllib.load(f)}
    for name in settings:
        value = os.environ.get("APP_" + name.upper())
        if value is not None:
            settings[name] = value
    return settings


def parse_port(value):
    """Turn a port setting into a number between 1 and 65535."""
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return port
