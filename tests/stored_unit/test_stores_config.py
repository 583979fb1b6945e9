"""The ``[stores.NAME]`` tables: what they give, and errors naming the file, line and key."""

from __future__ import annotations

import pytest

from devices.stored.objects import StoreAddress
from devices.stored.volume import StoreSettings
from rmtd.config import ConfigError, parse_config

FULL = """\
[stores.vault]
url = "s3://tapes/site1/"
endpoint = "http://127.0.0.1:8333"
region = "eu-west-3"
chunk_size = "1M"
spool_dir = "spool"
cache_dir = "~/cache"
cache_size = "100M"
lease_time = 12.5
"""


def test_every_key_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/op")
    config = parse_config(FULL, "/etc/rmtd/rmtd.toml", "/etc/rmtd")
    assert dict(config.stores) == {
        "vault": StoreSettings(
            name="vault",
            address=StoreAddress("tapes", "site1", "http://127.0.0.1:8333", "eu-west-3"),
            chunk_size=1 << 20,
            spool_dir="/etc/rmtd/spool",  # relative: from the configuration's directory
            cache_dir="/home/op/cache",
            cache_size=100 << 20,
            lease_seconds=12.5,
        )
    }


def test_only_the_url_is_needed() -> None:
    config = parse_config('[stores.aws]\nurl = "s3://bucket"\n', "rmtd.toml", "/srv")
    assert config.stores["aws"] == StoreSettings(name="aws", address=StoreAddress("bucket"))
    assert config.stores["aws"].address.region == "us-east-1"


def test_several_stores_and_integer_sizes() -> None:
    text = (
        '[stores.a]\nurl = "s3://b1/p/q"\nchunk_size = 65536\n'
        '[stores."b.2"]\nurl = "s3://b2"\ncache_size = 0\nlease_time = 1\n'
    )
    stores = parse_config(text).stores
    assert stores["a"].address == StoreAddress("b1", "p/q")
    assert stores["a"].chunk_size == 64 << 10
    assert (stores["b.2"].cache_size, stores["b.2"].lease_seconds) == (0, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[stores.vault]\nurl = "s3://t"\nchunk_sise = "1M"\n',
            "line 3: stores.vault.chunk_sise: unknown key (known: url, endpoint, region, "
            "chunk_size, spool_dir, cache_dir, cache_size, lease_time)",
        ),
        ("[stores.vault]\nregion = 'x'\n", "line 1: stores.vault.url: missing"),
        ('[stores.vault]\nurl = "http://t/p"\n', "line 2: stores.vault.url: http://t/p: not an"),
        ('[stores.vault]\nurl = "s3:///p"\n', "line 2: stores.vault.url: s3:///p: no bucket"),
        ("[stores.vault]\nurl = 3\n", "line 2: stores.vault.url: expected a non-empty string"),
        ('[stores.vault]\nurl = ""\n', "line 2: stores.vault.url: expected a non-empty string"),
        (
            '[stores.vault]\nurl = "s3://t"\nendpoint = "127.0.0.1:8333"\n',
            "line 3: stores.vault.endpoint: 127.0.0.1:8333: expected http://host:port",
        ),
        (
            '[stores.vault]\nurl = "s3://t"\nchunk_size = "32k"\n',
            "line 3: stores.vault.chunk_size: 32768 is out of range 64k..5G",
        ),
        (
            '[stores.vault]\nurl = "s3://t"\nchunk_size = "6G"\n',
            "line 3: stores.vault.chunk_size: 6442450944 is out of range 64k..5G",
        ),
        (
            '[stores.vault]\nurl = "s3://t"\ncache_size = "lots"\n',
            "line 3: stores.vault.cache_size",
        ),
        (
            '[stores.vault]\nurl = "s3://t"\nlease_time = 0.5\n',
            "line 3: stores.vault.lease_time: 0.5 is not a number of seconds >= 1",
        ),
        (
            '[stores.vault]\nurl = "s3://t"\nlease_time = "30"\n',
            "line 3: stores.vault.lease_time: expected a number of seconds, got '30'",
        ),
        (
            '[stores.vault]\nurl = "s3://t"\nlease_time = true\n',
            "line 3: stores.vault.lease_time: expected a number of seconds",
        ),
        ('[stores.vault]\nurl = "s3://t"\nspool_dir = 5\n', "line 3: stores.vault.spool_dir"),
        ('[stores.".hidden"]\nurl = "s3://t"\n', "stores..hidden: not a store name"),
        ('[stores."a/b"]\nurl = "s3://t"\n', "stores.a/b: not a store name"),
        ("[stores]\nvault = 3\n", "line 2: stores.vault: expected a table ([stores.vault])"),
        ("stores = 3\n", "line 1: stores: expected tables ([stores.NAME]), got a value"),
    ],
)
def test_errors_name_the_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as failed:
        parse_config(text, "rmtd.toml")
    assert str(failed.value).startswith("rmtd.toml, line ")
    assert message in str(failed.value)
