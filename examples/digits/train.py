"""Train the digits CNN and save `digits.keras` (run once; the checkpoint is shipped)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import keras
import numpy as np
from data import load_split
from keras_model import build_model


def main() -> None:
    keras.utils.set_random_seed(0)
    x_train, x_test, y_train, y_test = load_split()
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=20, batch_size=64, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {acc:.4f}")
    model.save(HERE / "digits.keras")
    # representative inputs for `portmodel verify/port --inputs` (real held-out digits)
    np.save(HERE / "sample_inputs.npy", x_test[:32])


if __name__ == "__main__":
    main()
