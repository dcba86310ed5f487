"""The API fuzzing's budget and seed, pinned (and printed in the report header), and the count
of cases it generated per operation (printed in the summary)."""

from __future__ import annotations

import os
from collections import Counter

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261129"))
GENERATED: Counter[tuple[str, str]] = Counter()
