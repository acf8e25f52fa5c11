"""The settings registry: one source for defaults, TOML, CLI flags and docs."""

from pathlib import Path

import pytest

from briefqa import ConfigError, Settings, load_settings
from briefqa.cli import build_parser
from briefqa.settings import setting_fields, settings_markdown

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
