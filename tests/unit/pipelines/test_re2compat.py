"""The regex subset shared by Python `re` and RE2: refusals at load, ASCII shorthands, whole-string matching."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ductile.pipelines.re2compat import RegexError, compile_pattern, translate

from .strategies import relaxed


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(a)\1", "backreference \\1"),
        (r"(?P<x>a)(?P=x)", "named backreference"),
        (r"a(?=b)", "lookahead"),
        (r"a(?!b)", "negative lookahead"),
        (r"(?<=a)b", "lookbehind"),
        (r"(?<!a)b", "negative lookbehind"),
        (r"(?>ab)", "atomic group"),
        (r"(a)?(?(1)b|c)", "conditional"),
        (r"a*+", "possessive quantifier"),
        (r"a++", "possessive quantifier"),
        (r"a?+", "possessive quantifier"),
        (r"a{2}+", "possessive quantifier"),
        (r"a{1,3}+", "possessive quantifier"),
        (r"a(?#note)", "comment group"),
        (r"(?x)a b", "inline flag x"),
        (r"(?a)\w", "inline flag a"),
        (r"[[:^alpha:]]+", "POSIX class [:^alpha:]"),
        (r"[[:letters:]]+", "POSIX class [:letters:]"),
        (r"a\Z", "\\Z"),
        (r"a{1001}", "repeat count above 1000"),
    ],
)
def test_constructs_re2_lacks_are_refused_by_name(pattern, construct):
    with pytest.raises(RegexError) as info:
        compile_pattern(pattern)
    message = str(info.value)
    assert construct in message
    assert "RE2 does not support" in message
    assert "accepted: RE2 syntax" in message


@pytest.mark.parametrize("pattern", ["a(", "[a", "*a", "a{2,1}", "(?U)a"])
def test_invalid_patterns_name_the_pattern(pattern):
    with pytest.raises(RegexError, match="invalid regex"):
        compile_pattern(pattern)


def test_flags_in_the_middle_get_a_hint():
    with pytest.raises(RegexError, match=r"write flags at the start, \(\?i\)\.\.\., or scoped, \(\?i:\.\.\.\)"):
        compile_pattern("foo(?i)bar")
    assert compile_pattern("foo(?i:bar)").fullmatch("fooBAR")


@pytest.mark.parametrize("pattern", [r"\p{L}", r"\pN", r"\PL"])
def test_unicode_classes_are_refused_with_a_clear_message(pattern):
    with pytest.raises(RegexError, match=r"uses a Unicode class .* not supported here"):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"\d+", "123", True),
        (r"\d+", "١٢٣", False),  # Arabic-Indic digits: RE2's \d is ASCII only
        (r"\w+", "abc_9", True),
        (r"\w+", "héllo", False),
        (r"\W", "é", True),
        (r"[\w]+", "héllo", False),
        (r"[\W_]+", "é_", True),
        (r"[^\d]+", "abc", True),
        (r"\s", "\t", True),
        (r"\s", "\v", False),  # RE2's \s is [\t\n\f\r ]
        (r"\S", "\v", True),
        (r".*\bé", "a é", False),  # \b is an ASCII word boundary in RE2
        (r"a\b.*", "a b", True),
        (r"(?i)ÉTÉ", "été", True),  # case folding stays Unicode
        (r"(?i:ab)c", "ABc", True),
        (r"(?P<n>a)+", "aaa", True),
        (r"a+?", "aaa", True),
        (r"a{2,3}", "aaa", True),
        (r"a{,}", "a{,}", True),  # not a counted repetition: literal text
        (r"[]a]+", "]a", True),
        (r"[\]]", "]", True),
        (r"x|y", "xy", False),  # the match spans the whole string
        (r"\++", "++", True),
        (r"[[:alpha:]]+", "abZ", True),
        (r"[[:alpha:]]+", "é", False),
        (r"[^[:digit:]]+", "ab", True),
        (r"[^[:digit:]x]", "x", False),
        (r"[[:punct:][:space:]]+", "!@[]{} \t", True),
        (r"[[:xdigit:]]+", "09afAF", True),
        (r"\Qa.b\E+", "a.bbb", True),
        (r"\Qa.b\E", "axb", False),
        (r"\x{41}\x{e9}", "Aé", True),
        (r"a\z", "a", True),
        (r"(?<word>\w+)", "abc", True),
    ],
)
def test_matching_follows_re2(pattern, text, matches):
    assert (compile_pattern(pattern).fullmatch(text) is not None) is matches


def test_translate_leaves_plain_patterns_alone():
    assert translate(r"^a.b*c+$") == r"^a.b*c+$"
    assert translate(r"\.\*") == r"\.\*"


@pytest.mark.parametrize(
    ("pattern", "text"), [("a{,2}", "a{,2}"), ("a{}", "a{}"), ("{x}", "{x}"), ("a{2,x}", "a{2,x}")]
)
def test_braces_that_are_not_a_repeat_are_literal_as_in_re2(pattern, text):
    assert compile_pattern(pattern).fullmatch(text)
    assert not compile_pattern(pattern).fullmatch("aa")


@relaxed()
@given(st.text(max_size=12))
def test_escaped_text_matches_itself_only(text):
    pattern = compile_pattern(re.escape(text))
    assert pattern.fullmatch(text)
    assert not pattern.fullmatch(text + "x")
