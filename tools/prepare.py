"""Regenerate every file under recipes/demo/data from its generator, byte for byte.

    python tools/prepare.py            # writes recipes/demo/data/ (then `git status` shows no change)
    python tools/prepare.py OUT_DIR    # the same files under another folder

The demo data are synthetic and deterministic (fixed seeds): each generator lives in
tools/synthetic/ and can also be run alone (`python -m tools.synthetic.hate --help`). Tests
check that the shipped files are what the generators write (tests/unit/test_synthetic_data.py,
test_chat_data.py, test_ner.py), so a generator change and its data land together.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python tools/prepare.py` from anywhere
    sys.path.insert(0, str(ROOT))

from tools.synthetic import hate, ner, products, reviews, sentiment  # noqa: E402

DEMO_DATA = ROOT / "recipes" / "demo" / "data"


def prepare(out: Path = DEMO_DATA) -> list[Path]:
    """Write the demo data set of every demo recipe under `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    reviews.write_reviews_csv(out / "reviews.csv", 1200, 7)   # encoder_multilabel
    sentiment.write_splits(out / "sentiment")                  # sentiment_full_vs_lora
    products.write_splits(out / "products")                    # decoder_classification
    hate.write_splits(out / "hate")                            # hate_speech
    ner.write_dataset(out / "ner", json_path=out / "ner" / "train_instructions.json", json_rows=200)  # qlora_ner
    return sorted(p for p in out.rglob("*") if p.is_file())


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
        print(__doc__.strip().splitlines()[2].strip() + "\n" + __doc__.strip().splitlines()[3].strip())
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    out = Path(argv[0]) if argv else DEMO_DATA
    files = prepare(out)
    print(f"wrote {len(files)} files under {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
