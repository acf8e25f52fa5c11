"""The settings registry: one source for defaults, TOML, CLI flags and docs."""

from pathlib import Path

import pytest

import briefqa
from briefqa import ConfigError, IndexMismatchError, Settings, load_settings
from briefqa.settings import pin_to_index, setting_fields, settings_markdown
from briefqa.ui.cli import build_parser

DOCS = Path(__file__).parent.parent / "docs" / "settings.md"


def test_defaults_come_from_the_registry():
    s = load_settings(config=None)
    assert s.k == Settings.model_fields["k"].default
    assert s.host == "127.0.0.1"
    assert s.answer_mode == "extractive"


def test_toml_file_overrides_defaults_and_flags_override_the_file(tmp_path):
    cfg = tmp_path / "a.toml"
    cfg.write_text('name = "wide"\n[briefqa]\nk = 8\nretrieval_mode = "dense"\n', encoding="utf-8")
    s = load_settings(cfg)
    assert (s.k, s.retrieval_mode) == (8, "dense")
    assert load_settings(cfg, k=3).k == 3


def test_unknown_or_invalid_settings_are_one_clear_error(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("chunk_sise = 100\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="chunk_sise"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="answer_mode"):
        load_settings(answer_mode="poetry")
    broken = tmp_path / "broken.toml"
    broken.write_text("k = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_every_setting_has_help_and_a_cli_flag():
    help_text = " ".join(a.format_help() for a in build_parser()._subparsers._group_actions[0].choices.values())
    for name, _default, help_, _group in setting_fields():
        assert help_, name
        assert f"--{name.replace('_', '-')}" in help_text, name


def test_docs_settings_page_is_generated_from_the_registry():
    assert DOCS.read_text(encoding="utf-8") == settings_markdown(), \
        "docs/settings.md is stale: run `briefqa settings --markdown > docs/settings.md`"


# -- one precedence rule: flag > environment > briefqa.toml > index > default ----------------------------------
def test_each_source_overrides_the_one_below_it(tmp_path):
    cfg = tmp_path / "briefqa.toml"
    cfg.write_text("k = 7\nrrf_k = 30\ncandidates = 40\n", encoding="utf-8")
    env = {"BRIEFQA_K": "8", "BRIEFQA_RRF_K": "20"}
    s = load_settings(cfg, environ=env, origin="--{flag}", k=9)
    assert (s.k, s.rrf_k, s.candidates, s.mmr_lambda) == (9, 20, 40, Settings.model_fields["mmr_lambda"].default)
    assert [s.origin(n) for n in ("k", "rrf_k", "candidates", "mmr_lambda")] == [
        "--k", "BRIEFQA_RRF_K", str(cfg), "default"]


def test_the_index_beats_defaults_and_a_conflict_from_any_source_is_the_same_error(tmp_path):
    built = {"chunk_size": 256}
    assert pin_to_index(load_settings(environ={}), built, "IX").chunk_size == 256  # a default yields
    cfg = tmp_path / "briefqa.toml"
    cfg.write_text("chunk_size = 64\n", encoding="utf-8")
    sources = {"briefqa.toml": load_settings(cfg, environ={}),
               "BRIEFQA_CHUNK_SIZE": load_settings(environ={"BRIEFQA_CHUNK_SIZE": "64"}),
               "--chunk-size": load_settings(environ={}, origin="--{flag}", chunk_size=64)}
    for name, settings in sources.items():
        with pytest.raises(IndexMismatchError) as caught:
            pin_to_index(settings, built, "IX")
        message = str(caught.value)
        assert message.startswith("chunk_size = 64 (from ") and name in message, message
        assert "built with chunk_size = 256" in message and "--rebuild" in message
    assert pin_to_index(load_settings(environ={}, chunk_size=256), built, "IX").chunk_size == 256  # same: fine


def test_an_index_keeps_its_chunking_whatever_asks_otherwise(tmp_path, monkeypatch):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.md").write_text("---\ntitle: A\n---\nThe port reopened its northern quay on Monday.\n")
    briefqa.ingest(corpus, index=tmp_path / "ix", chunk_size=64)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "briefqa.toml").write_text("chunk_size = 200\n", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=r"chunk_size = 200 \(from briefqa.toml\)"):
        briefqa.ingest(corpus, index=tmp_path / "ix")
    (tmp_path / "briefqa.toml").unlink()
    assert briefqa.ingest(corpus, index=tmp_path / "ix").chunks >= 1  # the default yields to the index's 64


@pytest.mark.parametrize(("values", "words"), [
    ({"chunk_size": 64, "chunk_overlap": 64}, "chunk_overlap = 64 (given as an argument) must be smaller than "
                                              "chunk_size = 64"),
    ({"retrieval_mode": "hybrid", "dense_weight": 0, "lexical_weight": 0}, "needs a positive weight"),
    ({"auth_user": "staff"}, "no auth_password"),
    ({"auth_password": "pw"}, "auth_user is empty"),
    ({"backend": "openai", "openai_base_url": "127.0.0.1:8000"}, "not an http(s) URL"),
])
def test_combinations_that_cannot_work_are_one_clear_error(values, words):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, **values)
    assert words in str(caught.value)


def test_boolean_flags_parse_on_and_off():
    parser = build_parser()
    assert parser.parse_args(["ask", "q", "--mmr"]).set_mmr is True
    assert parser.parse_args(["ask", "q", "--no-news-aware"]).set_news_aware is False
    assert parser.parse_args(["ask", "q"]).set_mmr is None


def test_config_is_accepted_before_and_after_the_command_and_eval_variants_do_not_shadow_it(tmp_path):
    parser = build_parser()
    assert parser.parse_args(["--config", "a.toml", "ask", "q"]).config == "a.toml"
    assert parser.parse_args(["ask", "q", "--config", "b.toml"]).config == "b.toml"
    args = parser.parse_args(["eval", "data.json", "--config", "base.toml", "--variant", "x.toml", "--out", "o"])
    assert (args.config, args.variants) == ("base.toml", ["x.toml"])
