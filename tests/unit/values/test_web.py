from collections.abc import Callable

import pytest

from meridian.errors import InvalidValue
from meridian.schema.values.web import _split_url, normalize_email, normalize_url


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("sales@tencent.com", "sales@tencent.com"),
        ("Zhang.San@Example.COM", "Zhang.San@example.com"),
        ("  bd+acme-lead@huawei.com ", "bd+acme-lead@huawei.com"),
        ("o'brien@example.co.uk", "o'brien@example.co.uk"),
        ("张三@例子.中国", "张三@例子.中国"),
        ("service@例子。中国", "service@例子.中国"),
        ("ops@ＩＤＣ.example.com", "ops@idc.example.com"),
        ("ops@xn--fsqu00a.xn--fiqs8s", "ops@xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_email_domain_is_lower_cased_and_local_part_kept(typed: str, stored: str) -> None:
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "sales",
        "sales@",
        "@tencent.com",
        "sales tencent.com",
        "sales @tencent.com",
        "sa les@tencent.com",
        "sales@tencent",
        "sales@@tencent.com",
        ".sales@tencent.com",
        "sales.@tencent.com",
        "sa..les@tencent.com",
        "sales@-tencent.com",
        "sales@tencent-.com",
        "sales@tencent..com",
        "sales@tencent.123",
        "sales@ten_cent.com",
        '"sales"@tencent.com',
        "sales@[10.0.0.1]",
        "sales＠tencent.com",
        "x" * 65 + "@tencent.com",
        "sales@" + "a" * 64 + ".com",
        "sales@" + ".".join(["abcdefghij"] * 25) + ".com",
    ],
)
def test_malformed_email_is_refused(typed: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_email(typed)
    assert error.value.code == "invalid_email"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://www.tencent.com", "https://www.tencent.com"),
        (" https://www.tencent.com/ ", "https://www.tencent.com/"),
        (
            "HTTPS://WWW.Tencent.COM/About?Lang=ZH#Team",
            "https://www.tencent.com/About?Lang=ZH#Team",
        ),
        ("http://crm.example.com:8080/leads", "http://crm.example.com:8080/leads"),
        ("http://10.0.0.1/oa", "http://10.0.0.1/oa"),
        ("https://[2001:DB8::1]:8443/", "https://[2001:db8::1]:8443/"),
        ("http://intranet/oa", "http://intranet/oa"),
        ("https://例子.中国/路径?q=机柜", "https://例子.中国/路径?q=机柜"),
    ],
)
def test_url_keeps_path_and_lower_cases_scheme_and_host(typed: str, stored: str) -> None:
    assert normalize_url(typed) == stored


def test_url_without_scheme_is_refused_with_a_suggestion_not_guessed() -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_url("www.tencent.com")
    assert error.value.code == "invalid_url"
    assert "https://www.tencent.com" in error.value.message


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ftp://files.example.com/",
        "javascript:alert(1)",
        "mailto:sales@tencent.com",
        "https:/www.tencent.com",
        "https://",
        "https:///path",
        "https://www.tencent .com",
        "https://www.tencent.com/a b",
        "https://user:secret@www.tencent.com/",
        "https://www.tencent.com:0/",
        "https://www.tencent.com:65536/",
        "https://www.tencent.com:http/",
        "https://www.tencent.com:/",
        "https://[2001:db8::1/",
        "https://[not-ip]/",
        "http://999.0.0.1/",
        "https://-tencent.com/",
        "https://ten_cent.com/",
    ],
)
def test_malformed_url_is_refused(typed: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_url(typed)
    assert error.value.code == "invalid_url"


_LINKS = [
    "https://c1.example.com",
    "HTTPS://WWW.Example.COM/Path?q=1#Top",
    "http://example.com/",
    "http://example.com?x",
    "http://example.com#f",
    "https://a-b.c-d.example",
    "https://-bad.example.com",
    "https://bad-.example.com",
    "https://a..b.com",
    "https://example.com.",
    "https://.example.com",
    "https://192.168.0.1/admin",
    "https://999.1.1.1",
    "https://123",
    "https://example.123",
    "https://" + "a" * 63 + ".com",
    "https://" + "a" * 64 + ".com",
    "https://" + ".".join(["abcdefghi"] * 26) + ".com",
    "https://example.com:8443/x",
    "https://user@example.com",
    "ftp://example.com",
    "https://例子.中国/路径",
    "https://[::1]/",
]


@pytest.mark.parametrize("link", _LINKS)
def test_a_plain_link_is_read_as_urlsplit_reads_it(link: str) -> None:
    """The common link skips ``urlsplit``; its result (or refusal) is the full reading's."""

    def outcome(read: Callable[[], str]) -> str | tuple[str, str]:
        try:
            return read()
        except InvalidValue as error:
            return error.code, str(error.message)

    assert outcome(lambda: normalize_url(link)) == outcome(lambda: _split_url(link, link))
