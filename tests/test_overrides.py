"""The overrides file is validated: each mistake gives one message with file, line/key and fix."""

import pytest

from hftestgen.errors import ConfigError
from hftestgen.registry import SKIPPED, load_registry
from hftestgen.registry.overrides import load_overrides


def write(tmp_path, text):
    p = tmp_path / "overrides.toml"
    p.write_text(text)
    return p


def test_valid_overrides_apply(tmp_path):
    p = write(
        tmp_path,
        '[types.gpt2]\nfamily = "other"\ncheckpoint = "org/gpt2-tiny"\n\n'
        "[types.gpt2.tiny]\nn_layer = 1\n\n"
        '[types.bert]\nskip = "needs a kernel we do not ship"\n',
    )
    reg = load_registry(load_overrides(p))
    gpt2 = reg["gpt2"]
    assert gpt2.family == "other"
    assert gpt2.checkpoint == "org/gpt2-tiny"
    assert gpt2.tiny == {"n_layer": 1}
    assert set(gpt2.overridden) == {"family", "checkpoint", "tiny"}
    assert reg["bert"].status == SKIPPED
    assert reg["bert"].reason == "needs a kernel we do not ship"


@pytest.mark.parametrize(
    "text,line,fragment",
    [
        ('[types.gpt2]\nfamly = "other"\n', 2, "unknown key 'famly'"),
        ("[types.gpt2]\nfamily = 3\n", 2, "family must be a string"),
        ('[types.gpt2]\nfamily = "decoder"\n', 2, "did you mean 'decoder-only'"),
        ('\n\n[types.gpt2]\nskip = ""\n', 4, "skip needs a non-empty reason"),
        ("[types.gpt2.tiny]\nwhen = 1979-05-27\n", 2, "must be a number"),
        ("[defaults]\nx = 1\n", None, "unknown top-level key 'defaults'"),
        ("[types.gpt2\n", None, "not valid TOML"),
    ],
)
def test_bad_overrides_give_located_messages(tmp_path, text, line, fragment):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_overrides(p)
    msg = str(ei.value)
    assert fragment in msg
    assert str(p) in msg
    if line is not None:
        assert f"{p}:{line}:" in msg


def test_unknown_model_type_suggests_closest(tmp_path):
    p = write(tmp_path, '\n[types.gtp2]\nfamily = "other"\n')
    with pytest.raises(ConfigError) as ei:
        load_registry(load_overrides(p))
    msg = str(ei.value)
    assert f"{p}:2" in msg
    assert "unknown model type 'gtp2'" in msg
    assert "'gpt2'" in msg


def test_quoted_hyphenated_type(tmp_path):
    p = write(tmp_path, '[types."donut-swin"]\nskip = "not today"\n')
    reg = load_registry(load_overrides(p))
    assert reg["donut-swin"].status == SKIPPED


def test_missing_file_means_no_overrides(tmp_path):
    assert load_overrides(tmp_path / "nope.toml").types == {}
