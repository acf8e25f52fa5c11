"""`python app.py`: serve the chat over ./index, building it from ./corpus first when there is none.

Honours Gradio's GRADIO_SERVER_NAME and GRADIO_SERVER_PORT; binds to 127.0.0.1 unless told otherwise.
"""

import os
import sys
from pathlib import Path

from briefqa import BriefQAError, load_settings
from briefqa.ui.chat import serve

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    overrides = {"index": str(HERE / "index")}
    if os.environ.get("GRADIO_SERVER_NAME"):
        overrides["host"] = os.environ["GRADIO_SERVER_NAME"]
    if os.environ.get("GRADIO_SERVER_PORT"):
        overrides["port"] = int(os.environ["GRADIO_SERVER_PORT"])
    try:
        serve(load_settings(**overrides), corpus=HERE / "corpus")
    except BriefQAError as exc:
        sys.exit(f"briefqa: error: {exc}")
