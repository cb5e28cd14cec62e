import logging

from xiaozhi_hub.masking import MaskSecretsFilter, mask_text, mask_url


def test_mask_url_hides_password_keeps_the_rest():
    assert mask_url("mysql://hub:s3cret@db:3306/hub") == "mysql://hub:***@db:3306/hub"
    assert mask_url("redis://:s3cret@[::1]:6379/0") == "redis://:***@[::1]:6379/0"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_mask_text_hides_tokens_and_url_passwords_in_free_text():
    text = (
        "failed: wss://api.xiaozhi.me/mcp/?token=eyJhbGciOi.abc.def and "
        "amqp://guest:guestpw@broker//"
    )
    masked = mask_text(text)
    assert "eyJhbGciOi" not in masked and "guestpw" not in masked
    assert "token=***" in masked and "amqp://guest:***@broker//" in masked


def test_log_filter_masks_formatted_arguments(caplog):
    logger = logging.getLogger("tests.masking")
    logger.addFilter(MaskSecretsFilter())
    with caplog.at_level(logging.INFO, logger="tests.masking"):
        logger.info("connecting to %s", "ws://relay:8004/mcp/?token=abcdef123456")
    assert "abcdef123456" not in caplog.text
    assert "token=***" in caplog.text
