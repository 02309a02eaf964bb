"""OCR engines are a small pool per process: pages read at once all get their words, and no more engines are
made than the pool holds (each carries ~30 MB of models)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sentinel.evaluation.judges import text


def sign(words: str) -> np.ndarray:
    picture = Image.new("RGB", (640, 240), (245, 240, 230))
    font = ImageFont.load_default(size=72)
    ImageDraw.Draw(picture).text((320, 120), words, fill="black", font=font, anchor="mm")
    return np.asarray(picture)


def test_pages_read_at_once_each_get_their_own_words_from_a_bounded_pool() -> None:
    pages = [sign("OPEN"), sign("CLOSED"), sign("EXIT"), sign("OPEN")]
    with ThreadPoolExecutor(len(pages)) as readers:
        read = list(readers.map(text.read_words, pages))
    assert [" ".join(w.text for w in page.words).upper() for page in read] == ["OPEN", "CLOSED", "EXIT", "OPEN"]
    assert 1 <= text._engines_made <= text.OCR_ENGINES
