"""STIX 2.1 pattern validation with a fast path.

:func:`pattern_error` first tries two cheap recognisers of our own:

* a single anchored regular expression for the flat shapes seen in most feeds
  (bracketed comparisons joined by AND/OR, observations joined by
  AND/OR/FOLLOWEDBY, at most one qualifier per observation), and
* a tokenizer plus recursive-descent parser for the rest of the common grammar
  (parentheses, several qualifiers, object paths into ``hashes``, ...).

Both answer only "definitely valid" or "not sure". They accept a subset of what
``stix2patterns`` accepts: token boundaries are required where the reference
lexer might otherwise glue tokens together, only ASCII whitespace is allowed, and
comments are never accepted. Whenever they are not sure (which includes every
rejection) the reference validator from ``stix2patterns`` decides and its message
is returned.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["pattern_error"]

# --------------------------------------------------------------------------- lexemes

_KEYWORDS = (
    "AND|OR|NOT|FOLLOWEDBY|LIKE|MATCHES|ISSUPERSET|ISSUBSET|EXISTS|LAST|IN|START|STOP|"
    "SECONDS|true|false|WITHIN|REPEATS|TIMES"
)
_KEYWORD_SET = frozenset(_KEYWORDS.split("|"))
# An identifier must not be exactly a keyword (the reference lexer would emit the keyword).
_NOT_KEYWORD = rf"(?!(?:{_KEYWORDS})(?![A-Za-z0-9_-]))"
_STR = r"'(?:[^'\\]|\\['\\])*'"
_INT = r"[+-]?(?:0|[1-9][0-9]*)"
_INT_POS = r"\+?(?:0|[1-9][0-9]*)"
_FLOAT = r"[+-]?[0-9]*\.[0-9]+"
_FLOAT_POS = r"\+?[0-9]*\.[0-9]+"
_HEX = r"h'(?:[0-9A-Fa-f]{2})*'"
_B64 = r"[A-Za-z0-9+/]"
_BIN = rf"b'(?:{_B64}{{4}})*(?:{_B64}{{4}}|{_B64}{{3}}=|{_B64}{{2}}==)'"
_TS = (
    r"t'[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?Z'"
)
_BOOL = r"(?:true|false)(?![A-Za-z0-9_-])"

# ----------------------------------------------------------- the flat fast recogniser

_F_OBJECT_TYPE = rf"{_NOT_KEYWORD}[A-Za-z_][A-Za-z0-9_-]*"
_F_PROPERTY = rf"{_NOT_KEYWORD}[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_-])"
_F_STEP = rf"(?:\s*\.\s*(?:{_F_PROPERTY}|{_STR})|\s*\[\s*(?:\*|{_INT_POS})\s*\])"
_F_PATH = rf"{_F_OBJECT_TYPE}\s*:\s*(?:{_F_PROPERTY}|{_STR}){_F_STEP}*"
_F_ORDERABLE = rf"(?:{_STR}|{_FLOAT}|{_INT}|{_TS}|{_HEX}|{_BIN})"
_F_PRIMITIVE = rf"(?:{_F_ORDERABLE}|{_BOOL})"
_F_TEST = (
    rf"(?:EXISTS\s+{_F_PATH}"
    rf"|{_F_PATH}(?:\s+NOT)?(?:"
    rf"\s*(?:==|=|!=|<>)\s*{_F_PRIMITIVE}"
    rf"|\s*(?:<=|>=|<|>)\s*{_F_ORDERABLE}"
    rf"|\s+IN\s*\(\s*(?:{_F_PRIMITIVE}(?:\s*,\s*{_F_PRIMITIVE})*)?\s*\)"
    rf"|\s+(?:LIKE|MATCHES|ISSUBSET|ISSUPERSET)\s*{_STR}))"
)
_F_OBSERVATION = (
    rf"\[\s*{_F_TEST}(?:\s+(?:AND|OR)\s+{_F_TEST})*\s*\]"
    rf"(?:\s+(?:WITHIN\s+(?:{_FLOAT_POS}|{_INT_POS})\s+SECONDS"
    rf"|REPEATS\s+{_INT_POS}\s+TIMES"
    rf"|START\s+{_TS}\s+STOP\s+{_TS}))?"
)
_FLAT = re.compile(
    rf"\s*{_F_OBSERVATION}(?:\s+(?:AND|OR|FOLLOWEDBY)\s+{_F_OBSERVATION})*\s*",
    re.ASCII,
)

# A single hash comparison, the other very common indicator shape:
# [file:hashes.'SHA-256' = '...'] / [file:hashes.MD5 = '...']
_SINGLE_HASH = re.compile(
    rf"\s*\[\s*{_F_OBJECT_TYPE}\s*:\s*hashes\s*\.\s*"
    rf"(?:({_F_PROPERTY})|'([A-Za-z0-9-]+)')"
    rf"\s*=\s*'([^'\\]*)'\s*\]\s*",
    re.ASCII,
)

# ------------------------------------------------------- tokenizer for the full parser

# Alternatives are ordered so that the first one that matches is also the longest
# token the reference lexer could produce at that position.
_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<ts>{_TS})
      | (?P<hex>{_HEX})
      | (?P<bin>{_BIN})
      | (?P<str>{_STR})
      | (?P<float>{_FLOAT})
      | (?P<int>{_INT})
      | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
      | (?P<op>==|!=|<>|<=|>=|=|<|>)
      | (?P<punct>[:.,()\[\]*])
    )""",
    re.ASCII | re.VERBOSE,
)
_TRAILING_SPACE = re.compile(r"\s*", re.ASCII)

_ORDERABLE_KINDS = frozenset({"ts", "hex", "bin", "str", "float", "int"})
_EQUALITY_OPS = frozenset({"=", "==", "!=", "<>"})
_BOOLEANS = frozenset({"true", "false"})
_STRING_OPS = frozenset({"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"})
_OBSERVATION_OPS = frozenset({"AND", "OR", "FOLLOWEDBY"})
_COMPARISON_OPS = frozenset({"AND", "OR"})

# The reference validator checks the value compared with ``...hashes.<ALGO>``; the
# key is upper-cased with '-' and quotes removed. MD6 is left to the reference.
_HEX_RUN = "[a-fA-F0-9]"
_HASH_VALUES: dict[str, re.Pattern[str]] = {
    algorithm: re.compile(f"{_HEX_RUN}{{{length}}}")
    for algorithm, length in (
        ("MD5", 32),
        ("RIPEMD160", 40),
        ("SHA1", 40),
        ("SHA224", 56),
        ("SHA256", 64),
        ("SHA384", 96),
        ("SHA512", 128),
        ("SHA3224", 56),
        ("SHA3256", 64),
        ("SHA3384", 96),
        ("SHA3512", 128),
        ("WHIRLPOOL", 128),
    )
}
_HASH_VALUES["SSDEEP"] = re.compile("[a-zA-Z0-9/+:.]{1,128}")

_STAR = object()
_PathStep = object  # a str key, an int index or _STAR


class _NotSure(Exception):
    """Raised inside the full fast parser: let the reference validator decide."""


class _Parser:
    """Recursive descent over the token list; any surprise raises :class:`_NotSure`."""

    __slots__ = ("kinds", "texts", "pos", "tests")

    def __init__(self, kinds: list[str], texts: list[str]) -> None:
        self.kinds = kinds
        self.texts = texts
        self.pos = 0
        # (decoded object path, literal kind, literal text) of every comparison
        self.tests: list[tuple[list[_PathStep], str, str]] = []

    def _peek(self) -> str:
        """The text of the next token, or '' at the end."""
        if self.pos < len(self.texts):
            return self.texts[self.pos]
        return ""

    def _take(self) -> tuple[str, str]:
        if self.pos >= len(self.texts):
            raise _NotSure
        pos = self.pos
        self.pos = pos + 1
        return self.kinds[pos], self.texts[pos]

    def _expect(self, text: str) -> None:
        kind, got = self._take()
        if got != text or kind in ("str", "ts", "hex", "bin"):
            raise _NotSure

    def parse(self) -> None:
        self._observations()
        if self.pos != len(self.texts):
            raise _NotSure

    def _observations(self) -> None:
        self._observation()
        while self._peek() in _OBSERVATION_OPS and self.kinds[self.pos] == "word":
            self.pos += 1
            self._observation()

    def _observation(self) -> None:
        kind, text = self._take()
        if kind != "punct":
            raise _NotSure
        if text == "[":
            self._comparisons()
            self._expect("]")
            seen: set[str] | None = set()
        elif text == "(":
            self._observations()
            self._expect(")")
            seen = None  # the reference does not look for repeats on groups
        else:
            raise _NotSure
        while True:
            word = self._peek()
            if self.pos >= len(self.kinds) or self.kinds[self.pos] != "word":
                return
            if word == "WITHIN":
                self.pos += 1
                kind, _ = self._take()
                if kind not in ("int", "float") or self.texts[self.pos - 1][0] == "-":
                    raise _NotSure
                self._expect_word("SECONDS")
            elif word == "REPEATS":
                self.pos += 1
                kind, _ = self._take()
                if kind != "int" or self.texts[self.pos - 1][0] == "-":
                    raise _NotSure
                self._expect_word("TIMES")
            elif word == "START":
                self.pos += 1
                if self._take()[0] != "ts":
                    raise _NotSure
                self._expect_word("STOP")
                if self._take()[0] != "ts":
                    raise _NotSure
            else:
                return
            if seen is not None:
                if word in seen:
                    raise _NotSure
                seen.add(word)

    def _expect_word(self, word: str) -> None:
        kind, text = self._take()
        if kind != "word" or text != word:
            raise _NotSure

    def _comparisons(self) -> None:
        self._comparison()
        while self._peek() in _COMPARISON_OPS and self.kinds[self.pos] == "word":
            self.pos += 1
            self._comparison()

    def _comparison(self) -> None:
        kind, text = self._take()
        if kind == "punct" and text == "(":
            self._comparisons()
            self._expect(")")
            return
        if kind == "word" and text == "EXISTS":
            self._take_path(*self._take())
            return
        path = self._take_path(kind, text)
        kind, text = self._take()
        if kind == "word" and text == "NOT":
            kind, text = self._take()
        if kind == "op":
            lit_kind, lit_text = self._take()
            if lit_kind not in _ORDERABLE_KINDS and not (
                text in _EQUALITY_OPS and lit_kind == "word" and lit_text in _BOOLEANS
            ):
                raise _NotSure
            self.tests.append((path, lit_kind, lit_text))
        elif kind == "word" and text in _STRING_OPS:
            lit_kind, lit_text = self._take()
            if lit_kind != "str":
                raise _NotSure
            self.tests.append((path, lit_kind, lit_text))
        elif kind == "word" and text == "IN":
            self._expect("(")
            if self._peek() == ")" and self.kinds[self.pos] == "punct":
                self.pos += 1
            else:
                while True:
                    lit_kind, lit_text = self._take()
                    if lit_kind not in _ORDERABLE_KINDS and not (
                        lit_kind == "word" and lit_text in _BOOLEANS
                    ):
                        raise _NotSure
                    kind, text = self._take()
                    if kind != "punct":
                        raise _NotSure
                    if text == ")":
                        break
                    if text != ",":
                        raise _NotSure
            self.tests.append((path, "set", ""))
        else:
            raise _NotSure

    def _take_path(self, kind: str, text: str) -> list[_PathStep]:
        if kind != "word" or text in _KEYWORD_SET:
            raise _NotSure
        self._expect(":")
        steps: list[_PathStep] = [self._key()]
        while self.pos < len(self.texts) and self.kinds[self.pos] == "punct":
            text = self.texts[self.pos]
            if text == ".":
                self.pos += 1
                steps.append(self._key())
            elif text == "[":
                self.pos += 1
                kind, text = self._take()
                if kind == "int" and text[0] != "-":
                    steps.append(int(text))
                elif kind == "punct" and text == "*":
                    steps.append(_STAR)
                else:
                    raise _NotSure
                self._expect("]")
            else:
                break
        return steps

    def _key(self) -> str:
        kind, text = self._take()
        if kind == "str":
            return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        if kind != "word" or "-" in text or text in _KEYWORD_SET:
            raise _NotSure
        return text


def _tokenize(pattern: str) -> tuple[list[str], list[str]] | None:
    kinds: list[str] = []
    texts: list[str] = []
    match = _TOKEN.match
    pos = 0
    end = len(pattern)
    while True:
        found = match(pattern, pos)
        if found is None:
            tail = _TRAILING_SPACE.match(pattern, pos)
            if tail is not None and tail.end() == end:
                return kinds, texts
            return None
        group = found.lastgroup
        if group is None:  # pragma: no cover - every alternative is named
            return None
        kinds.append(group)
        texts.append(found.group(group))
        pos = found.end()


def _hash_values_ok(tests: list[tuple[list[_PathStep], str, str]]) -> bool:
    for path, lit_kind, lit_text in tests:
        if "hashes" not in path:
            continue
        last = path[-1]
        if last is _STAR:
            continue
        if not isinstance(last, str):
            return False  # the reference validator fails on an index here
        algorithm = last.upper().replace("-", "").replace("'", "")
        if algorithm == "MD6":
            return False
        rule = _HASH_VALUES.get(algorithm)
        if rule is None:
            continue
        if lit_kind != "str" or rule.fullmatch(lit_text, 1, len(lit_text) - 1) is None:
            return False
    return True


def _fast_accepts(pattern: str) -> bool:
    """True only if ``pattern`` is certainly a valid STIX 2.1 pattern.

    False means "not sure", never "invalid".
    """
    if "hashes" not in pattern:
        if _FLAT.fullmatch(pattern) is not None:
            return True
    else:
        single = _SINGLE_HASH.fullmatch(pattern)
        if single is not None:
            algorithm = (single.group(1) or single.group(2)).upper().replace("-", "")
            rule = _HASH_VALUES.get(algorithm)
            if algorithm != "MD6" and (rule is None or rule.fullmatch(single.group(3))):
                return True
    tokens = _tokenize(pattern)
    if tokens is None or not tokens[0]:
        return False
    parser = _Parser(*tokens)
    try:
        parser.parse()
    except _NotSure:
        return False
    return _hash_values_ok(parser.tests)


_CACHEABLE_LENGTH = 4096


def _reference_error(pattern: str) -> str | None:
    """The verdict of the ``stix2patterns`` validator (slow, so short ones are cached)."""
    if len(pattern) <= _CACHEABLE_LENGTH:
        return _cached_reference_error(pattern)
    return _run_reference(pattern)


@lru_cache(maxsize=2048)
def _cached_reference_error(pattern: str) -> str | None:
    return _run_reference(pattern)


def _run_reference(pattern: str) -> str | None:
    from stix2patterns.validator import validate

    if not pattern.strip():
        return "the pattern is empty"
    try:
        passed, errors = validate(pattern, ret_errs=True, stix_version="2.1")
    except Exception as exc:  # the reference validator crashes on a few inputs
        return f"the pattern could not be checked ({type(exc).__name__}: {exc})"
    if passed:
        return None
    messages = [str(error).removeprefix("FAIL: ") for error in errors]
    return "; ".join(messages) or "invalid pattern"


def pattern_error(pattern: str) -> str | None:
    """Return None if ``pattern`` is a valid STIX 2.1 pattern, else the reason."""
    if _fast_accepts(pattern):
        return None
    return _reference_error(pattern)
