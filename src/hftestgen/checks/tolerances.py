"""Numeric tolerances of the checks (float32 everywhere). Importable without torch.

Why each value is what it is:

* ``DETERMINISM``: two eval-mode forward passes of the same model on the same inputs in the same
  process run the same CPU kernels on the same data, so they must be *bitwise* identical.
  Anything else means randomness in eval mode (dropout left on, sampling, uninitialised memory).
* ``SAVE_LOAD``: after ``save_pretrained`` / ``from_pretrained`` every state-dict tensor must be
  *bitwise* equal (``EXACT``): that catches weights altered in (de)serialization, by name.
  Outputs are then compared at ``atol=rtol=1e-6``, not bitwise: memory-mapped safetensors storage
  is aligned differently from freshly allocated tensors, and SIMD kernels pick different paths
  for different alignments (observed: ELECTRA / Funnel pretraining heads differ by 1e-9 with
  identical weights). 1e-6 is 1000x that and 10^4x below what a changed weight or a parameter
  re-initialised because its key was missing does.
* ``BATCH``: a sample run alone vs. the same sample inside a batch of 2 uses differently shaped
  matmuls (different blocking / summation order), so results differ by float32 rounding only:
  ~1e-7 relative per op, amplified through a few tiny layers to ~1e-6. ``atol=rtol=1e-4`` is two
  orders of magnitude above that and still far below the O(1e-2 .. 1) changes real cross-sample
  leakage causes in randomly initialised tiny models.
* ``PADDING``: the same argument as ``BATCH``: padded keys get exactly zero attention weight
  (``exp(finfo.min)`` underflows to 0), so only the sequence length, i.e. summation order, differs.
* ``GENERATE_LOGITS``: the first generation step re-runs the prompt (possibly through the
  cache-aware code path that computes the LM head only for the last position); compared with a
  plain forward at ``atol=rtol=1e-4`` for the same reason as ``BATCH``. Token ids are compared
  exactly.
* ``DEVICE``: CUDA/MPS kernels differ from CPU kernels in blocking and fused ops. With TF32 turned
  off for the comparison, float32 results of tiny models agree to ~1e-6; ``atol=rtol=1e-4`` leaves
  margin for reduction-order differences in softmax / layer norm without hiding real bugs
  (wrong device for a buffer, a CPU-only fallback with different semantics).
"""

from __future__ import annotations

from typing import NamedTuple


class Tol(NamedTuple):
    atol: float
    rtol: float


EXACT = Tol(0.0, 0.0)
DETERMINISM = EXACT
SAVE_LOAD = Tol(1e-6, 1e-6)
BATCH = Tol(1e-4, 1e-4)
PADDING = Tol(1e-4, 1e-4)
GENERATE_LOGITS = Tol(1e-4, 1e-4)
DEVICE = Tol(1e-4, 1e-4)

#: batch size of the inputs every check uses (>= 2 so batch effects are visible).
BATCH_SIZE = 2
#: padding positions appended (or prepended) by ``attention_mask_padding``.
PAD_LEN = 3
#: new tokens asked of ``generate``.
NEW_TOKENS = 4
