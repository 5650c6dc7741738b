"""Process settings that every figure script imports before NumPy or PyTorch (`import _cpu`).

- One BLAS/OpenMP thread: CPU seconds stay comparable across methods, and two scripts can share the
  two cores of the build machine.
- PyTorch's CPU kernels pinned to AVX2. PyTorch picks its vectorised kernels (its own, oneDNN's for
  convolutions, MKL's) by the processor's instruction sets, and kernels of different widths sum in a
  different order; training amplifies those last-bit differences. Measured on one AVX-512 machine:
  the same seed gave the Fashion classifier of `fig4_fashion.py` a test accuracy of 0.8587 with its
  default (AVX-512) kernels and 0.8527 with the AVX2 ones, the value of the committed tables, which
  were produced on an AVX2 machine. With the pin, the committed numbers are reproduced on both.

The pin applies only where /proc/cpuinfo lists AVX2 (elsewhere torch keeps its own choice). A
variable the caller has set wins (`setdefault`). The module name starts with an underscore, so
`make_all.py` does not run it as a figure script.
"""
import os



def has_avx2() -> bool:
    "True when the processor lists AVX2 (Linux's /proc/cpuinfo; False where that file is missing)."
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx2" in line for line in f)
    except OSError:
        return False


SETTINGS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
if has_avx2():
    SETTINGS.update(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2", MKL_ENABLE_INSTRUCTIONS="AVX2")

for _name, _value in SETTINGS.items():
    os.environ.setdefault(_name, _value)
