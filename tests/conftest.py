"""Test set-up: with no NVIDIA GPU here, the numba-cuda backend runs on Numba's CUDA simulator."""

import os
import shutil

# NOTE: this must happen before anything imports numba.cuda; a real GPU (nvidia-smi present) is used as is.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
