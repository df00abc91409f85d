"""Proof that the model-invariant checks (``hftestgen.checks.invariants``) catch real bugs.

Each fault is monkeypatched into the Transformers code path a real tiny model runs; the check,
called the way a generated test calls it (``checks.<name>(CASE, model_class)`` with the type's
``Case``), must fail with its message while the fault is active and pass without it.
"""

from __future__ import annotations

import inspect

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen import checks  # noqa: E402
from hftestgen.checks import Case  # noqa: E402
from hftestgen.render.files import case_fields  # noqa: E402

# --------------------------------------------------------------------------------------------
# faults: each installs itself with ``monkeypatch`` (undone at the end of the test)


def fault_gpt2_attention_not_causal(monkeypatch):
    """GPT-2 builds no causal mask and its attention stops declaring itself causal (a mask
    refactor that hands the decoder the bidirectional path)."""
    from transformers.models.gpt2 import modeling_gpt2 as m

    orig = m.GPT2Attention.__init__

    def __init__(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        self.is_causal = False

    monkeypatch.setattr(m, "create_causal_mask", lambda *a, **k: None)
    monkeypatch.setattr(m.GPT2Attention, "__init__", __init__)


def fault_cache_prepends_new_states(monkeypatch):
    """The dynamic KV cache concatenates new keys/values *before* the cached ones. One decoded
    token attends to every cached position anyway (attention is a set function of its keys), so
    token-by-token decoding is unaffected; a multi-token chunk meets a causal mask laid out for
    past-then-new and attends to the wrong positions."""
    from transformers import cache_utils

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        self.keys = torch.cat([key_states, self.keys], dim=-2)
        self.values = torch.cat([value_states, self.values], dim=-2)
        return self.keys, self.values

    monkeypatch.setattr(cache_utils.DynamicLayer, "update", update)


def fault_llama_rope_dropped(monkeypatch):
    """Llama's attention no longer applies the rotary embedding to queries and keys."""
    from transformers.models.llama import modeling_llama as m

    monkeypatch.setattr(m, "apply_rotary_pos_emb", lambda q, k, cos, sin, *a, **kw: (q, k))


def fault_gpt2_position_embeddings_zeroed(monkeypatch):
    """GPT-2's learned position embeddings are added as zeros (a dropped ``wpe`` term)."""
    from transformers.models.gpt2 import modeling_gpt2 as m

    orig = m.GPT2Model.__init__

    def __init__(self, config):
        orig(self, config)
        with torch.no_grad():
            self.wpe.weight.zero_()
        self.wpe.weight.requires_grad_(False)

    monkeypatch.setattr(m.GPT2Model, "__init__", __init__)


def fault_untied_on_reload(monkeypatch):
    """``from_pretrained`` skips tying: the LM head, saved once as the embeddings, stays at its
    fresh initialisation, untied."""
    from transformers import modeling_utils

    orig = modeling_utils.PreTrainedModel.tie_weights

    def tie_weights(self, missing_keys=None, recompute_mapping=True):
        if missing_keys is not None:  # the loading path
            return None
        return orig(self, missing_keys=missing_keys, recompute_mapping=recompute_mapping)

    monkeypatch.setattr(modeling_utils.PreTrainedModel, "tie_weights", tie_weights)


def fault_tied_against_config(monkeypatch):
    """Llama's LM head is tied to the embeddings although ``tie_word_embeddings=False``."""
    from transformers.models.llama import modeling_llama as m

    orig = m.LlamaForCausalLM.__init__

    def __init__(self, config):
        orig(self, config)
        self.lm_head.weight = self.model.embed_tokens.weight

    monkeypatch.setattr(m.LlamaForCausalLM, "__init__", __init__)


# (fault, model type, check, model class, text the failure must contain)
FAULTS = [
    pytest.param(
        fault_gpt2_attention_not_causal,
        "gpt2",
        "causality",
        "GPT2LMHeadModel",
        "a leak of the future into the past",
        id="gpt2-attention-not-causal",
    ),
    pytest.param(
        fault_cache_prepends_new_states,
        "llama",
        "chunked_prefill",
        "LlamaForCausalLM",
        "differs from one forward",
        id="cache-prepends-new-states",
    ),
    pytest.param(
        fault_llama_rope_dropped,
        "llama",
        "position_sensitivity",
        "LlamaForCausalLM",
        "no positional information reaches",
        id="llama-rope-dropped",
    ),
    pytest.param(
        fault_gpt2_position_embeddings_zeroed,
        "gpt2",
        "position_sensitivity",
        "GPT2Model",
        "no positional information reaches",
        id="gpt2-position-embeddings-zeroed",
    ),
    pytest.param(
        fault_untied_on_reload,
        "gpt2",
        "weight_tying",
        "GPT2LMHeadModel",
        "not tied after save/load",
        id="lm-head-untied-on-reload",
    ),
    pytest.param(
        fault_tied_against_config,
        "llama",
        "weight_tying",
        "LlamaForCausalLM",
        "tied after construction, but LlamaConfig.tie_word_embeddings=False",
        id="lm-head-tied-against-config",
    ),
]


def _case(registry, model_type: str) -> Case:
    return Case(**case_fields(registry[model_type]))


def _verdict(check: str, case: Case, model_class: str) -> str | None:
    """None when the check passes, else its failure message (a skip is an error here)."""
    checks.clear_cache()  # models built under another (faulty or clean) code state are stale
    try:
        getattr(checks, check)(case, model_class)
    except pytest.fail.Exception as e:
        return str(e)
    finally:
        checks.clear_cache()
    return None


@pytest.mark.parametrize("fault, model_type, check, model_class, message", FAULTS)
def test_invariant_catches_fault(
    registry, monkeypatch, fault, model_type, check, model_class, message
):
    case = _case(registry, model_type)
    assert _verdict(check, case, model_class) is None, f"{check} fails without the fault"
    fault(monkeypatch)
    got = _verdict(check, case, model_class)
    assert got is not None, f"{check} did not catch {fault.__name__}"
    assert message in got, got


def test_cache_fault_escapes_token_by_token_generation(registry, monkeypatch):
    """Why chunked_prefill exists: the prepending cache above leaves greedy generation (one token
    per step, compared with and without the cache) passing."""
    fault_cache_prepends_new_states(monkeypatch)
    case = _case(registry, "llama")
    assert _verdict("generate", case, "LlamaForCausalLM") is None
    assert _verdict("chunked_prefill", case, "LlamaForCausalLM") is not None


def test_causality_checks_bert_lm_head_as_a_decoder(registry, monkeypatch):
    """BertLMHeadModel's tiny config says is_decoder=False; the check rebuilds it as the decoder
    its docs ask for, so a non-causal decoder mask is caught there too."""
    from transformers.models.bert import modeling_bert as m

    case = _case(registry, "bert")
    assert _verdict("causality", case, "BertLMHeadModel") is None
    orig = m.BertLayer.__init__

    def __init__(self, config, *args, **kwargs):
        orig(self, config, *args, **kwargs)
        self.attention.self.is_causal = False

    monkeypatch.setattr(m, "create_causal_mask", lambda *a, **k: None)
    monkeypatch.setattr(m.BertLayer, "__init__", __init__)
    got = _verdict("causality", case, "BertLMHeadModel")
    assert got is not None and "rebuilt with is_decoder=True" in got, got


def test_position_sensitivity_holds_for_alibi_and_relative_bias(registry):
    """The swap formulation holds where positions only enter attention weights (BLOOM's ALiBi,
    T5's relative buckets): a repeated-token input would be blind there."""
    assert _verdict("position_sensitivity", _case(registry, "bloom"), "BloomModel") is None
    assert _verdict("position_sensitivity", _case(registry, "t5"), "T5EncoderModel") is None


def test_checks_skip_with_a_reason_where_they_do_not_apply(registry):
    case = _case(registry, "bert")
    for check, cls, why in [
        ("causality", "BertModel", "no causal text stack"),
        ("chunked_prefill", "BertForMaskedLM", "takes no cache"),
        ("weight_tying", "BertModel", "no output embeddings"),
    ]:
        checks.clear_cache()
        with pytest.raises(pytest.skip.Exception, match=why):
            getattr(checks, check)(case, cls)


def test_invariant_rows_are_dispatched_to_the_invariants_module():
    from hftestgen.checks import invariants
    from hftestgen.checks.table import BY_NAME

    for name in ("causality", "chunked_prefill", "position_sensitivity", "weight_tying"):
        assert BY_NAME[name].module == "invariants"
        assert callable(getattr(invariants, name))


def test_position_sensitivity_reads_the_first_mixing_layer(registry, monkeypatch):
    """Why the check reads per-layer hidden states: in a causal model without positions the
    swap is invisible only up to the first layer that mixes positions; past it the mask alone
    orders the tokens (p1 saw one token, p2 two), so final outputs would hide a dropped RoPE."""
    from hftestgen.checks import _support

    fault_llama_rope_dropped(monkeypatch)
    case = _case(registry, "llama")
    checks.clear_cache()
    built = _support.get_built(case, "LlamaModel")
    ids = torch.tensor([[5, 9, 11, 13, 17, 19, 23]])
    swapped = torch.tensor([[9, 5, 11, 13, 17, 19, 23]])
    with torch.no_grad():
        a = built.model(input_ids=ids, output_hidden_states=True).hidden_states
        b = built.model(input_ids=swapped, output_hidden_states=True).hidden_states
    checks.clear_cache()
    assert torch.allclose(a[1][:, 2:], b[1][:, 2:], atol=1e-6)  # first layer: a set function
    assert not torch.allclose(a[-1][:, 2:], b[-1][:, 2:], atol=1e-4)  # last: the mask orders


def test_save_load_float64_survives_float32_caches_of_the_first_forward(registry):
    """CLVP caches its rotary table as a plain tensor attribute on its first forward; the float64
    copy carries the float32 one. Old behaviour: the reloaded model computed it in float64 and
    the outputs differed by 1.9e-7 (tolerance 1e-12)."""
    assert (
        _verdict("save_load", _case(registry, "clvp"), "ClvpModelForConditionalGeneration") is None
    )


def test_position_sensitivity_leaves_discrete_codes_out(registry):
    """An audio codec's codes are equal across positions whenever the quantizer maps nearby
    values to one code. Old behaviour: a failure on xcodec's integer audio_codes."""
    checks.clear_cache()
    try:
        with pytest.raises(pytest.skip.Exception, match="discrete outputs not compared"):
            checks.position_sensitivity(_case(registry, "xcodec"), "XcodecModel")
    finally:
        checks.clear_cache()


def test_save_load_float64_does_not_depend_on_the_checks_run_before(registry):
    """SeamlessM4T's speech encoder caches a rotary table on a forward: after the padding check
    ran the shared float64 copy at another length (a float64 table), a reloaded model warmed up
    in float32 differed by 1e-7 (the intermediate fix, a float32 warm-up of the reloaded model
    only)."""
    case, cls = _case(registry, "seamless_m4t"), "SeamlessM4TForSpeechToText"
    checks.clear_cache()
    try:
        checks.batch_independence(case, cls)
        try:  # its verdict (a known upstream bug here) does not matter, its float64 runs do
            checks.attention_mask_padding(case, cls)
        except (pytest.xfail.Exception, pytest.skip.Exception, pytest.fail.Exception):
            pass
        checks.save_load(case, cls)
    finally:
        checks.clear_cache()


def test_causality_ignores_a_switch_the_model_code_never_reads(registry, monkeypatch):
    """Transformers 4.x gives every config ``is_decoder=False`` (a PretrainedConfig default);
    Llama's code never reads it, so it says nothing about Llama's attention: causality runs
    (and catches a dropped causal mask) instead of skipping Llama as bidirectional. BERT's code
    reads it: its False still selects the bidirectional encoder."""
    import dataclasses

    from transformers.models.llama import modeling_llama as m

    fields = case_fields(registry["llama"])
    data = dict(fields.get("data") or {})
    data["config"] = {**dict(data.get("config") or {}), "is_decoder": False}
    case = dataclasses.replace(_case(registry, "llama"), data=data)
    try:
        assert _verdict("causality", case, "LlamaModel") is None
    except pytest.skip.Exception as e:  # old behaviour: "config.is_decoder=False (bidirectional)"
        pytest.fail(f"causality skipped LlamaModel: {e}")
    orig = m.LlamaAttention.__init__

    def __init__(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        self.is_causal = False

    monkeypatch.setattr(m, "create_causal_mask", lambda *a, **k: None)
    monkeypatch.setattr(m.LlamaAttention, "__init__", __init__)
    got = _verdict("causality", case, "LlamaModel")
    assert got is not None and "leak of the future" in got, got
    checks.clear_cache()
    with pytest.raises(pytest.skip.Exception, match=r"config.is_decoder=False"):
        checks.causality(_case(registry, "bert"), "BertModel")


def test_a_fresh_cache_without_config_on_older_transformers(monkeypatch):
    """Transformers before 4.56: ``DynamicCache()`` takes no config. Old behaviour: None, and
    every 4.5x head that fills a given cache was reported not-covered in chunked_prefill."""
    import transformers

    from hftestgen.checks import invariants

    class OldDynamicCache:
        def __init__(self):
            self.made = True

    monkeypatch.setattr(transformers, "DynamicCache", OldDynamicCache)
    model = torch.nn.Linear(2, 2)
    model.config = transformers.LlamaConfig()
    cache = invariants._dynamic_cache(model)
    assert isinstance(cache, OldDynamicCache)


# --------------------------------------------------------------------------------------------
# multiple-choice heads: (batch, choices, length) input_ids


def fault_bert_position_ids_zeroed(monkeypatch):
    """BERT's embeddings look every token up at position 0 (position ids never advanced): the
    learned position embeddings add the same vector everywhere."""
    from transformers.models.bert import modeling_bert as m

    orig = m.BertEmbeddings.forward

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, *args, **kwargs):
        ref = input_ids if input_ids is not None else kwargs.get("inputs_embeds")
        length = ref.shape[1] if input_ids is not None else ref.shape[-2]
        zeros = torch.zeros(1, length, dtype=torch.long, device=ref.device)
        return orig(self, input_ids, token_type_ids, zeros, *args, **kwargs)

    monkeypatch.setattr(m.BertEmbeddings, "forward", forward)


def _ran(check: str, case: Case, model_class: str) -> str | None:
    """``_verdict`` with a skip counted as a failure of the test (the check must run)."""
    try:
        return _verdict(check, case, model_class)
    except pytest.skip.Exception as e:
        pytest.fail(f"{check} did not run for {model_class}: {e}")


@pytest.mark.parametrize(
    "model_type, model_class",
    [
        ("bert", "BertForMultipleChoice"),
        ("roberta", "RobertaForMultipleChoice"),
        ("funnel", "FunnelForMultipleChoice"),
        ("deberta-v2", "DebertaV2ForMultipleChoice"),
    ],
)
def test_position_sensitivity_runs_on_multiple_choice_ids(registry, model_type, model_class):
    """A multiple-choice head's input_ids are (batch, choices, length); its forward flattens the
    choices into the batch, so the swap goes along the last axis and the per-layer hidden states
    (batch x choices rows) are read as for any other encoder."""
    from hftestgen.checks import _support

    case = _case(registry, model_type)
    checks.clear_cache()
    built = _support.get_built(case, model_class)
    assert _support.make_inputs(case, built)["input_ids"].ndim == 3
    assert _ran("position_sensitivity", case, model_class) is None


def test_position_sensitivity_catches_lost_positions_in_a_multiple_choice_head(
    registry, monkeypatch
):
    case = _case(registry, "bert")
    assert _ran("position_sensitivity", case, "BertForMultipleChoice") is None
    fault_bert_position_ids_zeroed(monkeypatch)
    got = _ran("position_sensitivity", case, "BertForMultipleChoice")
    assert got is not None and "no positional information reaches" in got, got
    assert _ran("position_sensitivity", case, "BertModel") is not None  # the fault is real


def test_tokens_take_choices_only_when_asked_and_level_the_swap(registry):
    """Only position_sensitivity asks for multiple-choice ids; other token checks still refuse
    a (batch, choices, length) sequence. The swap levels the other per-position inputs (random
    token_type_ids at p1 and p2 would otherwise let a position-free BERT see the order: without
    this the lost-positions fault above goes unseen)."""
    from hftestgen.checks import _support, invariants

    case = _case(registry, "bert")
    checks.clear_cache()
    built = _support.get_built(case, "BertForMultipleChoice")
    with pytest.raises(
        pytest.skip.Exception, match=r"no 2-D token sequence input_ids.*\(2, 2, 7\)"
    ):
        invariants._Tokens(case, built, "input_ids")
    tokens = invariants._Tokens(case, built, "input_ids", choices=True)
    assert (tokens.rows, tokens.length) == (4, 7)
    moved = tokens.replaced([3])["input_ids"]
    assert moved.shape == tokens.ids.shape
    assert bool((moved[..., 3] != tokens.ids[..., 3]).all())
    assert torch.equal(moved[..., :3], tokens.ids[..., :3])
    # the swap's inputs: segment ids equal at both positions, ids and position ids untouched
    extra = dict(tokens.inputs, position_ids=torch.arange(7).expand(2, 2, 7))
    tokens.inputs = extra
    level = tokens.levelled(1, 4)
    assert not torch.equal(extra["token_type_ids"][..., 1], extra["token_type_ids"][..., 4])
    assert torch.equal(level["token_type_ids"][..., 4], extra["token_type_ids"][..., 1])
    assert torch.equal(level["token_type_ids"][..., :4], extra["token_type_ids"][..., :4])
    assert level["input_ids"] is extra["input_ids"]
    assert level["position_ids"] is extra["position_ids"]
    checks.clear_cache()


def test_causality_gives_derived_decoder_tokens_explicitly(registry, monkeypatch):
    """BartForSequenceClassification shifts input_ids into its decoder; the check now gives the
    decoder the same tokens explicitly (rule *decoder tokens given where they are derived*) and
    catches a decoder that stops masking the future. Old behaviour: not-covered, 'fed no
    decoder_input_ids'."""
    from transformers.models.bart import modeling_bart as m

    case = _case(registry, "bart")
    try:
        assert _verdict("causality", case, "BartForSequenceClassification") is None
    except pytest.skip.Exception as e:
        pytest.fail(f"causality skipped BartForSequenceClassification: {e}")
    orig = m.BartAttention.__init__

    def __init__(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        self.is_causal = False

    monkeypatch.setattr(m, "create_causal_mask", lambda *a, **k: None)
    monkeypatch.setattr(m.BartAttention, "__init__", __init__)
    got = _verdict("causality", case, "BartForSequenceClassification")
    assert got is not None and "leak of the future" in got, got


# --------------------------------------------------------------------------------------------
# chunked_prefill: a model's own cache, and generation inputs that cut a continuation chunk


def test_chunked_prefill_hands_a_head_the_models_own_cache(registry):
    """Rule 'a model's own cache': MiniMaxForQuestionAnswering returns no cache and refuses a
    DynamicCache (MiniMax takes only its MiniMaxCache, defined in modeling_minimax). Old
    behaviour: not-covered ('returned no cache ... nor filled a DynamicCache')."""
    case = _case(registry, "minimax")
    assert _ran("chunked_prefill", case, "MiniMaxForQuestionAnswering") is None


def test_own_cache_is_built_by_its_constructor_parameter_names():
    """The 4.x hybrid caches take (config, batch_size, dtype, device[s]); a parameter the rule
    cannot fill leaves the class out."""
    import transformers

    from hftestgen.checks import invariants

    class HybridCache:
        def __init__(self, config, batch_size, dtype=torch.float16, devices=None):
            self.config, self.batch, self.dtype, self.devices = config, batch_size, dtype, devices

    class OddCache:
        def __init__(self, config, beams):
            pass

    model = torch.nn.Linear(2, 2).double()
    model.config = transformers.LlamaConfig(num_hidden_layers=3)
    cache = invariants._own_cache(model, HybridCache, 5)
    assert (cache.batch, cache.dtype) == (5, torch.float64)
    assert cache.devices == [torch.device("cpu")] * 3
    assert invariants._own_cache(model, OddCache, 5) is None


def _cut_generation_inputs(monkeypatch, cls, cache_arg):
    """``cls.prepare_inputs_for_generation`` keeps only the last token once a cache exists (what
    4.57's Mamba / RWKV / xLSTM / XLM-RoBERTa-XL overrides do)."""
    orig = cls.prepare_inputs_for_generation

    def prepare(self, input_ids, *args, **kwargs):
        if kwargs.get(cache_arg) is not None:
            input_ids = input_ids[:, -1:]
        return orig(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(cls, "prepare_inputs_for_generation", prepare)


def test_chunked_prefill_continues_a_stateful_model_through_forward(registry, monkeypatch):
    """Rule 'stateful models are continued through forward': generate never hands a stateful
    model a multi-token chunk after its state, so where its generation inputs cut one the check
    drives the class through forward. Old behaviour: not-covered ('no per-position output of
    the full forward ... is split 3 + 4')."""
    from transformers.models.rwkv import modeling_rwkv as m

    _cut_generation_inputs(monkeypatch, m.RwkvForCausalLM, "state")
    case = _case(registry, "rwkv")
    assert _ran("chunked_prefill", case, "RwkvForCausalLM") is None


def test_chunked_prefill_fails_generation_inputs_that_cut_a_chunk(registry, monkeypatch):
    """A model with a Cache (prefill chunking hands it each chunk alone) whose generation
    inputs cut a chunk loses the rest of it: a failure, not a gap. Old behaviour: not-covered."""
    from transformers.models.llama import modeling_llama as m

    from hftestgen.checks.invariants import CACHE_ARGS

    params = inspect.signature(m.LlamaForCausalLM.forward).parameters
    cache_arg = next(n for n in CACHE_ARGS if n in params)  # 5.x: cache, 4.x: past_key_values
    _cut_generation_inputs(monkeypatch, m.LlamaForCausalLM, cache_arg)
    case = _case(registry, "llama")
    got = _ran("chunked_prefill", case, "LlamaForCausalLM")
    assert got is not None and "cut the 4-token continuation chunk" in got, got


def test_an_unbuildable_generate_cache_is_reported():
    """BltConfig has no num_hidden_layers, so the DynamicCache generate builds for it raises:
    the error is the verdict (an upstream bug), not 'no cache'. A model without config or a
    buildable one gives None."""
    import transformers

    from hftestgen.checks import invariants

    model = torch.nn.Linear(2, 2)
    assert invariants._unbuildable_dynamic_cache(model) is None
    model.config = transformers.LlamaConfig()
    assert invariants._unbuildable_dynamic_cache(model) is None
    model.config = transformers.BltConfig()
    assert isinstance(invariants._unbuildable_dynamic_cache(model), AttributeError)
