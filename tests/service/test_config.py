import pytest
from pydantic import ValidationError

from service.config import Settings

STRONG = "s" * 40


def test_production_refuses_placeholder_secrets():
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None, environment="production")
    with pytest.raises(ValidationError, match="USHK_WEBHOOK_SIGNING_KEY"):
        Settings(
            _env_file=None, environment="production", id_hmac_secret=STRONG, webhook_signing_key="changethis"
        )
    settings = Settings(
        _env_file=None, environment="production", id_hmac_secret=STRONG, webhook_signing_key=STRONG
    )
    assert settings.max_single_deposit_cents == 100_000_000


def test_development_allows_placeholders():
    assert Settings(_env_file=None).database_url == "sqlite:///var/ushk.db"


def test_env_prefix(monkeypatch):
    monkeypatch.setenv("USHK_MAX_SINGLE_DEPOSIT", "500.00")
    monkeypatch.setenv("USHK_DATABASE_URL", "sqlite:///x.db")
    settings = Settings(_env_file=None)
    assert settings.max_single_deposit_cents == 50_000
    assert settings.database_url == "sqlite:///x.db"


def test_bad_maximum_is_refused():
    with pytest.raises(ValidationError):
        Settings(_env_file=None, max_single_deposit="1e6")
