"""Process-wide switches that keep briefqa offline and private.

They must be set before sentence-transformers, transformers, huggingface_hub or gradio are imported, so the
package imports this module first. A code path that would reach a model hub is a bug; with these set, such a
path fails loudly instead of downloading.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
