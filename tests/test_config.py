"""Settings: defaults, environment parsing, and readable refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import config


def test_defaults_match_the_documented_service():
    defaults = config.defaults()
    assert defaults["PROVIDER"] == ("magicstudio",)
    assert defaults["MAGICSTUDIO_URL"] == "https://ai-api.magicstudio.com/api/ai-art-generator"
    assert defaults["UPSTREAM_TIMEOUT"] == 60
    assert defaults["IMAGE_TTL"] == 120
    assert defaults["MAX_PROMPT_CHARS"] == 1000
    assert defaults["IMAGE_DIR"] == "images"
    assert defaults["PREMIUM_KEYS"] == () and defaults["CORS_ORIGINS"] == ()


def test_environment_values_are_parsed_to_their_types():
    values = config.from_environment({
        "ARTPROXY_IMAGE_TTL": "30",
        "ARTPROXY_UPSTREAM_TIMEOUT": "2.5",
        "ARTPROXY_PREMIUM_KEYS": "a, b,,c",
        "ARTPROXY_CORS_ORIGINS": "https://a.example, http://localhost:3000",
        "ARTPROXY_SWEEP_ENABLED": "false",
        "UNRELATED": "x",
    })
    assert values == {
        "IMAGE_TTL": 30,
        "UPSTREAM_TIMEOUT": 2.5,
        "PREMIUM_KEYS": ("a", "b", "c"),
        "CORS_ORIGINS": ("https://a.example", "http://localhost:3000"),
        "SWEEP_ENABLED": False,
    }


@pytest.mark.parametrize("name, raw", [("IMAGE_TTL", "two minutes"), ("IMAGE_TTL", "0"),
                                       ("UPSTREAM_TIMEOUT", "-1"), ("MAX_PROMPT_CHARS", "1.5"),
                                       ("SWEEP_ENABLED", "sometimes"), ("STORAGE", "s3"),
                                       ("RATE_LIMIT", "lots"), ("RATE_LIMIT", "30 per fortnight"),
                                       ("TRUSTED_PROXIES", "-1")])
def test_bad_values_name_the_variable(name, raw):
    with pytest.raises(config.ConfigError, match=f"ARTPROXY_{name}="):
        config.from_environment({f"ARTPROXY_{name}": raw})


def test_secrets_are_not_repeated_in_errors():
    setting = config.Setting("KEYS", (), lambda raw: int(raw), "keys", secret=True)
    with pytest.raises(config.ConfigError) as error:
        config.parse_setting(setting, "hunter2", "ARTPROXY_KEYS")
    assert "hunter2" not in str(error.value)


def test_server_address():
    assert config.server_address({}) == ("127.0.0.1", 5000)
    assert config.server_address({"HOST": "0.0.0.0", "PORT": "8080"}) == ("0.0.0.0", 8080)


def test_env_file_fills_in_but_does_not_override(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTPROXY_IMAGE_TTL", "45")
    monkeypatch.delenv("ARTPROXY_MAX_PROMPT_CHARS", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("ARTPROXY_IMAGE_TTL=99\nARTPROXY_MAX_PROMPT_CHARS=50\n")
    config.load_env_file(env_file)
    values = config.from_environment(os.environ)
    assert values["IMAGE_TTL"] == 45 and values["MAX_PROMPT_CHARS"] == 50


def test_readme_table_lists_every_setting():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert config.markdown_table() in readme


def test_scale_out_settings_parse():
    assert config.from_environment({
        "ARTPROXY_STORAGE": "Redis", "ARTPROXY_RATE_LIMIT": " 30/minute;500/day ",
        "ARTPROXY_TRUSTED_PROXIES": "1", "ARTPROXY_REDIS_URL": "rediss://cache.internal:6380/2",
    }) == {"STORAGE": "redis", "RATE_LIMIT": "30/minute;500/day", "TRUSTED_PROXIES": 1,
           "REDIS_URL": "rediss://cache.internal:6380/2"}


def test_a_redis_url_with_a_password_is_not_echoed():
    with pytest.raises(config.ConfigError) as error:
        config.from_environment({"ARTPROXY_REDIS_URL": "http://:s3cret@cache:6379"})
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize("name, raw", [
    ("IMAGE_TTL", "99999999999"), ("PROMPT_CACHE_SECONDS", "1e13"),
    ("PROMPT_CACHE_SECONDS", "inf"), ("PROMPT_CACHE_SECONDS", "nan"),
])
def test_a_lifetime_longer_than_a_stored_name_can_hold_is_refused(name, raw):
    # 1e13 seconds made names of 17 digits, which were then neither served nor swept.
    with pytest.raises(config.ConfigError, match=f"ARTPROXY_{name}"):
        config.load({f"ARTPROXY_{name}": raw})
