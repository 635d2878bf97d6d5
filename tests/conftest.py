import os
import sys
from pathlib import Path

from hypothesis import settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))

# "ci" (the default): the same drawn examples on every run, so CI's verdict is the code's and not the draw's.
# "fuzz" (bench/fuzz.py, `pytest --hypothesis-profile=fuzz`): fresh random draws, as many as asked.
settings.register_profile("ci", max_examples=120, derandomize=True, deadline=None)
settings.register_profile("fuzz", max_examples=int(os.environ.get("PORTMODEL_FUZZ_EXAMPLES", "2000")), deadline=None)
settings.load_profile("ci")
