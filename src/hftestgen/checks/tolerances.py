"""Numeric tolerances of the checks (float32, float64 for the model invariants). Importable without
torch.

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
* ``BATCH64``: batch independence runs on a float64 copy of the model (``checks._support.precise``;
  ``BATCH`` is the float32 fallback for models that cannot run in float64). Measured over the
  whole suite (transformers 5.24, torch 2.13 CPU, 1,499 tests compared exactly): median row-vs-
  batch difference 1.3e-16, 99th percentile 1.5e-8, maximum 2.4e-7 (models that keep float32
  islands in a float64 copy: RMSNorm's ``.to(float32)``, MoE routers, linear-attention scans:
  OpenAIPrivacyFilter, Laguna, HY-V4, GLM-5-Next, BailingHybrid). ``atol=1e-6, rtol=1e-7`` sits
  4x above that maximum and catches a cross-sample leak of 1e-5 of the output's largest
  magnitude, which the float32 ``1e-4`` could not (``bert-batch-leak-1e-5`` in the fault
  catalogue: 1.9e-5 on BERT's hidden states). Runs are deterministic (same kernels, same data),
  so the measured maximum is not a sample of a noisy distribution.
* ``PADDING``: the same argument as ``BATCH``: padded keys get exactly zero attention weight
  (``exp(finfo.min)`` underflows to 0), so only the sequence length, i.e. summation order, differs.

Float64 for the self-consistency checks. ``batch_independence``, ``attention_mask_padding``,
``save_load`` (outputs; the weights stay bitwise in their own dtype) and ``generate`` (step
logits) compare on a float64 copy of the model (``checks._support.precise``, one copy per model
object, shared by the checks of a class), and fall back to float32 with the reason in the
message (``float32 (float64 copy unusable: ...)``) where the model cannot run in float64.
``BY_PRECISION`` maps each to its tolerance per precision. Measured with
``scripts/measure_noise.py`` (2026-11-30, transformers 5.24.0, torch 2.13.0 CPU, 161 (type,
class) pairs of 100 types across every family; results in ``benchmarks/results/noise.json``),
max |difference| over the tests that pass (abs / relative to the output's largest magnitude):

==================  ===========================  ===========================  ===================
check               float64 (median/p99/max)     float32, forced (p99/max)    tolerance (64 / 32)
==================  ===========================  ===========================  ===================
batch_independence  1.1e-16 / 4.5e-15 / 7.5e-9   3.1e-6 / 6.8e-6 (rel 2.4e-6)  1e-6,1e-7 / 1e-4
padding             2.4e-17 / 1.0e-9 / 1.8e-8    9.5e-7 / 2.0e-6 (rel 7.5e-7)  1e-6,1e-7 / 1e-4
save_load outputs   0 / 0 / 0                    2.2e-8 / 9.5e-7 (rel 6.6e-7)  1e-12 / 1e-6
generate logits     1.4e-8 / 3.5e-6 / 3.5e-6     8.5e-6 / 8.5e-6 (rel 2.4e-5)  3e-5 / 1e-4
chunked_prefill     5.6e-17 / 2.4e-7 / 2.4e-7    1.7e-6 / 1.7e-6 (rel 6.0e-7)  1e-5,1e-4 / 1e-4
causality           0 / 1.7e-18 / 6.9e-18        0 / 0                        1e-10 / 1e-5
==================  ===========================  ===========================  ===================

* ``PADDING64`` = ``BATCH64``: the same rounding argument, the same float32 islands (the full
  suite's batch maximum 2.4e-7 applies); 50x above the sample's maximum (MiniCPM-V 4.6's logits).
* ``SAVE_LOAD64``: in float64 every sampled output was bitwise equal after the round trip (the
  1e-9 alignment effects seen in float32 shrink to float64 rounding, ~1e-16); 1e-12 leaves 10^4
  for that and catches any change of a weight's value.
* ``GENERATE_LOGITS64``: ``generate`` hands out its step logits as float32 copies (Transformers
  casts the next-token logits to float32) so float64 gains less here. The largest differences
  are not rounding: BERT-style decoders (RoCBERT 3.5e-6 abs / 1e-5 rel, BERT 7.6e-6 / 2.1e-5
  outside the sample) differ between the cached and the uncached steps by about the same in
  float64 as in float32. 3e-5 sits 4x above that and 3x below ``GENERATE_LOGITS``.
* ``GENERATE_LOGITS``: the first generation step re-runs the prompt (possibly through the
  cache-aware code path that computes the LM head only for the last position); compared with a
  plain forward at ``atol=rtol=1e-4`` for the same reason as ``BATCH``. Token ids are compared
  exactly.

Model invariants (``hftestgen.checks.invariants``) run on a float64 copy of the model
(``model.double()``, floating inputs cast, MoE experts switched to their eager loop because
torch's grouped_mm has no float64 kernel). A model that cannot run in float64 (an explicit
float32 cast of its own, a kernel without float64, NaNs from a float32 constant such as
``finfo(float32).min`` mixed into float64) is checked in float32. Values measured over the whole
suite (transformers 5.24, torch 2.13 CPU) are quoted with each rationale:

* ``CAUSALITY``: outputs at positions before the changed tokens are computed from identical
  inputs with identical shapes; later keys enter only through attention weights that are exactly
  0 (``exp(-inf)`` / ``exp(finfo.min)`` underflow). Observed: <= 4.4e-16 in float64, <= 1.1e-6 in
  float32 (ProphetNet's n-gram stream). ``1e-10`` (float64) and ``1e-5`` (float32) sit orders of
  magnitude above that and far below both the smallest effect a changed token has on a later
  position (2.5e-5 in float64) and the leaks found (FSMT's missing decoder mask: 5e-4 on the
  logits; CpmAnt's bidirectional context: 16).
* ``CHUNKED_PREFILL``: the chunked and the full forward multiply differently shaped matrices, so
  float64 results differ in the last bits; models that compute parts in float32 even in a float64
  copy (RMSNorm's ``.to(torch.float32)``, the scans of SSM / linear-attention layers: Jamba,
  OlmoHybrid, Qwen3.5's gated delta net, Mamba2) round those differences to float32. Observed:
  most float64 models <= 1e-15, the float32 islands up to 1.0e-5 on values of magnitude 2.9
  (Jamba, 3.5e-6 relative), and <= 5.4e-7 in float32 runs. ``atol=1e-5, rtol=1e-4`` (float64) and
  ``1e-4`` (float32) leave >= 10x margin; the cache bugs found differ by >= 1e-3 (Mamba's dropped
  SSM state) up to 2.5 (RoBERTa's generation positions).
* ``POSITION`` is the other way round: a difference *larger* than it counts as a position
  effect. Without positional information the swapped runs differ only in the order attention
  sums its terms: ~1e-16 relative in float64, ~1e-7 in float32. The smallest real effects
  observed are 4.2e-6 in float64 (Reformer's axial position embeddings at initialisation scale)
  and 8.4e-4 in float32 (Splinter); ``1e-8`` / ``1e-5`` separate both sides by >= 100x.
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
BATCH64 = Tol(1e-6, 1e-7)
PADDING = Tol(1e-4, 1e-4)
GENERATE_LOGITS = Tol(1e-4, 1e-4)
PADDING64 = Tol(1e-6, 1e-7)
SAVE_LOAD64 = Tol(1e-12, 1e-12)
GENERATE_LOGITS64 = Tol(3e-5, 3e-5)
PIPELINE = Tol(1e-5, 1e-5)
"""A pipeline's scores / features vs. the same model called by hand on the same preprocessing
output, float32: the same operations on the same tensors, so only the pipeline's own float32
post-processing (softmax in float32 after a float32 -> float64 round trip) can move them."""
PIXELS = Tol(1e-4, 1e-4)
"""A solid image's processed pixel value vs. the declared rescale/normalize arithmetic: float32
arithmetic on values of magnitude <= ~3 (measured differences <= 5e-7)."""
PIPELINE_BATCH = PADDING
"""A pipeline's result for an input in a batch of two vs. alone: the batch pads the shorter
input, the attention_mask_padding tolerance."""

#: the tolerance of each self-consistency check that runs on a float64 copy of the model
#: (``checks._support.precise``), by the precision it ran in
BY_PRECISION = {
    "batch_independence": {"float64": BATCH64, "float32": BATCH},
    "padding": {"float64": PADDING64, "float32": PADDING},
    "save_load": {"float64": SAVE_LOAD64, "float32": SAVE_LOAD},
    "generate": {"float64": GENERATE_LOGITS64, "float32": GENERATE_LOGITS},
}

#: batch size of the inputs every check uses (>= 2 so batch effects are visible).
BATCH_SIZE = 2
#: padding positions appended (or prepended) by ``attention_mask_padding``.
PAD_LEN = 3
#: new tokens asked of ``generate``.
NEW_TOKENS = 4

# Model invariants (``hftestgen.checks.invariants``), compared on a float64 copy of the model
# where it runs in float64, else in float32; one value per precision.
CAUSALITY = {"float64": Tol(1e-10, 1e-10), "float32": Tol(1e-5, 1e-5)}
CHUNKED_PREFILL = {"float64": Tol(1e-5, 1e-4), "float32": Tol(1e-4, 1e-4)}
POSITION = {"float64": Tol(1e-8, 1e-8), "float32": Tol(1e-5, 1e-5)}

# Golden outputs (``checks.golden_outputs``): a snapshot's outputs against the same weights and
# inputs run again, possibly under another release, per recorded precision
# (``hftestgen.snapshot.PRECISIONS``). Cross-release noise cannot be measured offline with one
# Transformers installed; ``scripts/measure_golden.py`` measures its stand-ins on 37 float64
# entries of a 41-type sample (transformers 5.24.0, torch 2.13.0 CPU, benchmarks/results/
# golden.json): the same run again 0 (bitwise), 4 intra-op threads instead of 1 <= 4.0e-15,
# the eager attention kernel instead of SDPA <= 9.1e-15 (2.8e-15 relative; padded query
# positions excluded, ``snapshot.record.real_positions``), oneDNN off 0. ``1e-9`` leaves 10^5
# over that for other BLAS builds and CPUs, and sits 10^9 below the signal of an attention scale
# applied twice (LlamaModel: 1.9 abs, 0.73 relative). Plain float64 runs keep the model's
# float32 islands (RMSNorm's ``.to(float32)``), so they get float32-rounding room (1e-6); the
# float32 fallback gets ``BATCH``'s 1e-4 (no such entry in the sample but one float32: XGLM).
GOLDEN = {
    "float64-promoted": Tol(1e-9, 1e-9),
    "float64": Tol(1e-6, 1e-6),
    "float32": Tol(1e-4, 1e-4),
}

# Backend matrix (``checks.matrix``): the largest accepted ``max|backend - plain| /
# max(max|plain|, 1)`` per output tensor, the plain side eager float32 on CPU with padded inputs
# compared at real positions. Measured over the whole 5.24.0 suite (torch 2.13.0 CPU, every
# class of 734 types, run m1, ``benchmarks/bench_matrix.py``):
#
# - sdpa (float32): 1,101 compared cells, median 3.9e-7, p99 9.1e-6; then a gap to 10 cells
#   above 1e-3 (eager and sdpa genuinely disagree there). 1e-4 sits 10x above p99 and inside
#   the gap; flex_attention, export, compile and onnx are float32 reorderings of the same ops and
#   get the same value (export: max 1.8e-6 over 581 cells).
# - bfloat16 / float16: a continuum, not a gap: median 0.014 / 0.0017, p90 0.054 / 0.0045, p95
#   0.121 / 0.0126, p99 0.80 / 0.30. The medians differ by 8x, the ratio of the two formats'
#   unit roundoff (2^-8 vs 2^-11): the moves are rounding. The tolerance is 32 unit roundoffs of
#   the format (0.125 / 0.0156), about the p95 of each: cells beyond it are reported as
#   ``mismatch`` with the size of the move (precision-sensitive stacks: top-k query selection,
#   MoE routing, deep unnormalized paths), and a dtype bug that breaks the computation (a
#   float32 island mixing dtypes, an fp16 overflow) fails far outside it.
# - cuda / mps: TF32 off, float32: the 1e-4 of the CPU reorderings above is float32 reordering
#   noise alone; 1e-3 leaves room for other kernels (CUDA/MPS block reductions and fuse ops
#   differently from CPU; not measured here: no accelerator on this machine).
BACKEND = {
    "sdpa": 1e-4,
    "flex_attention": 1e-4,
    "export": 1e-4,
    "compile": 1e-4,
    "onnx": 1e-4,
    "bfloat16": 32 * 2.0**-8,
    "float16": 32 * 2.0**-11,
    "cuda": 1e-3,
    "mps": 1e-3,
}
