"""Process-wide switches that keep briefqa offline and private, for the programs that run it.

The library itself never changes its host's state: it loads models from installed packages with
``local_files_only`` and needs no switch for that. The entry points (the ``briefqa`` command, the chat
server, ``app.py``) call :func:`offline` before they import a model library or Gradio, so that a code path
that would reach a hub fails loudly instead of downloading, and Gradio sends no analytics. A variable the
user set already is left as it is.
"""

import os

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def offline() -> None:
    """Set the offline and no-telemetry switches that are not set yet."""
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
