"""Survey: synthesize the tiny tokenizer of every type the tokenizer mapping and the registry
share; print per-class outcome counts (built / skipped by package / failed by error).

    PYTHONPATH=src python benchmarks/survey_tokenizers.py [-v]
"""

from __future__ import annotations

import sys
import time

from hftestgen.preprocess.tokenizers import summarize, survey

if __name__ == "__main__":
    t = time.perf_counter()
    result = survey(verbose="-v" in sys.argv)
    print(summarize(result))
    print(f"{time.perf_counter() - t:.1f} s")
