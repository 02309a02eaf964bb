"""Importing RapidOCR in about half the time.

Importing ``rapidocr`` builds the same 85 KB model table (its ``default_models.yaml``) into an OmegaConf tree twice,
in two of its modules, and that is most of its one-second import, paid by every `sentinel eval` of a task with
text criteria. Both modules only read the table, so the import is handed one tree for both. Every other load goes
through untouched, and OmegaConf is left as it was once the import is done.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

#: The table rapidocr loads twice.
MODEL_TABLE = "default_models.yaml"

_lock = threading.Lock()


def rapidocr_class() -> Any:
    """``rapidocr.RapidOCR``, imported with the model table loaded once."""
    with _lock:  # two OCR engines may be made at once; only one may swap OmegaConf.load
        if "rapidocr.main" not in sys.modules:
            from omegaconf import OmegaConf

            original = OmegaConf.__dict__["load"]  # the staticmethod itself, to put back as it was
            trees: dict[str, Any] = {}

            def load_once(file_: Any) -> Any:
                if not isinstance(file_, str | os.PathLike) or Path(file_).name != MODEL_TABLE:
                    return original.__func__(file_)
                key = str(Path(file_).resolve())
                if key not in trees:
                    trees[key] = original.__func__(file_)
                return trees[key]

            OmegaConf.load = staticmethod(load_once)  # type: ignore[method-assign,assignment]
            try:
                from rapidocr import RapidOCR
            finally:
                OmegaConf.load = original  # type: ignore[method-assign]
        from rapidocr import RapidOCR
    return RapidOCR
