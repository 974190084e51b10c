"""Where netsentry keeps its cache and user configuration (option > environment > XDG).

- Cache (feed downloads, the compiled intel index, feed status): ``$NETSENTRY_CACHE_DIR``,
  else ``$XDG_CACHE_HOME/netsentry``, else ``~/.cache/netsentry``.
- User configuration (``feeds.yaml``): ``$NETSENTRY_CONFIG_DIR``, else
  ``$XDG_CONFIG_HOME/netsentry``, else ``~/.config/netsentry``.

Relative XDG values are ignored, as the XDG base-directory specification asks.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(own: str, xdg: str, fallback: str) -> Path:
    explicit = os.environ.get(own)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get(xdg, "")
    if base and os.path.isabs(base):
        return Path(base) / "netsentry"
    return Path.home() / fallback / "netsentry"


def cache_dir() -> Path:
    """The directory of the feed cache and the compiled intel index."""
    return _xdg("NETSENTRY_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def config_dir() -> Path:
    """The directory of the user's feeds.yaml."""
    return _xdg("NETSENTRY_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def user_feeds_path() -> Path:
    """The user's feeds.yaml (it need not exist)."""
    return config_dir() / "feeds.yaml"
