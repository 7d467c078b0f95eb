"""pytest setup for every molecule scenario's tests: the shared checks in molecule/shared."""

import sys
from pathlib import Path

_SHARED = str(Path(__file__).resolve().parent / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
