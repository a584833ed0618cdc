"""Secrets never survive into provider error messages or the HTTP stack's log records."""

from __future__ import annotations

import logging

import pytest

from core.providers.errors import ProviderFinalError
from core.providers.redaction import RedactingFilter, install_log_redaction, redact, register_secret

OPENAI_401 = (
    "Incorrect API key provided: sk-abc***************************************xyz. "
    "You can find your API key at https://platform.openai.com/account/api-keys."
)


def test_openai_401_message_keeps_its_meaning_but_loses_the_key_fragment() -> None:
    cleaned = redact(OPENAI_401)
    assert "abc" not in cleaned and "xyz" not in cleaned and "***" in cleaned
    assert cleaned.startswith("Incorrect API key provided: ")
    assert "https://platform.openai.com/account/api-keys" in cleaned


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("key sk-proj-AbCdEf0123456789_-zz was refused", "AbCdEf0123456789"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("header api-key: 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        ('{"api_key": "supersecretvalue42"}', "supersecretvalue42"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw given", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("Incorrect API key provided: 9f8e7d6c5b4a. Check it.", "9f8e7d6c5b4a"),
        ("masked abcd********************wxyz here", "abcd"),
    ],
)
def test_key_shaped_values_are_scrubbed(text: str, leak: str) -> None:
    assert leak not in redact(text)


def test_configured_key_is_scrubbed_even_without_a_recognisable_shape() -> None:
    key = "azure-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert key not in redact(f"the server echoed {key} back", extra_secrets=[key])
    register_secret(key)
    assert key not in redact(f"later, elsewhere: {key}")


def test_short_secrets_are_not_registered_so_ordinary_words_survive() -> None:
    register_secret("job")
    assert redact("job failed") == "job failed"


def test_ordinary_messages_pass_unchanged() -> None:
    message = "Job ftjob-abc123 has already completed. File file-XYZ (training_file) is invalid."
    assert redact(message) == message


def test_provider_errors_redact_their_message_on_construction() -> None:
    error = ProviderFinalError(OPENAI_401, status_code=401, code="invalid_api_key")
    assert "xyz" not in str(error) and "xyz" not in repr(error) and "xyz" not in error.message


def test_log_filter_rewrites_records_of_the_http_stack(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    for name in ("openai._base_client", "httpx2", "httpcore2.http11"):
        logging.getLogger(name).debug("sending %s", {"headers": {"Authorization": "Bearer sk-live-abcdef123456"}})
    assert "sk-live-abcdef123456" not in caplog.text
    assert len(caplog.records) == 3, "every record must still be logged, only rewritten"
    assert all("Authorization" in record.getMessage() for record in caplog.records)


def test_log_filter_never_drops_a_record() -> None:
    record = logging.LogRecord("httpx2", logging.INFO, __file__, 1, "plain %s", ("message",), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "plain message"
