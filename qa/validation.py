"""What a question may be: user input cleaned and checked before it reaches retrieval.

Every surface (CLI argument, JSON body, query string, chat form, conversation
context) goes through `clean_question`, so that text the pipeline cannot
handle (a lone surrogate from undecodable bytes, a control character) is a
clear 400 naming the character and where it is, never a crash further down.
"""

import re
import unicodedata

from newsqa.errors import EmptyQuestion, InvalidQuestion, QuestionTooLong

# Line breaks and tabs inside a question are just spaces.
_SPACES = re.compile(r"[\s\u0085\u2028\u2029]+")
# Invisible format characters that copy-paste brings along; harmless, dropped.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def clean_text(text: str, what: str = "the question") -> str:
    """`text` with whitespace collapsed and invisible characters dropped (NFC).

    Raises:
        InvalidQuestion: a lone surrogate (undecodable bytes), a control character,
            U+FFFD (a character a client could not decode) or a noncharacter.
    """
    for i, ch in enumerate(text, 1):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            # How Python hands over bytes that are not UTF-8 (argv, surrogateescape).
            raise InvalidQuestion(
                f"{what} is not valid UTF-8 (byte 0x{code - 0xDC00:02X} at character {i}): "
                "check the encoding of your terminal or client",
                zh=f"问题里有无法识别的字节（第{i}个字符）：请检查输入的编码。",
            )
        if 0xD800 <= code <= 0xDFFF:
            raise InvalidQuestion(
                f"{what} holds a lone UTF-16 surrogate (U+{code:04X} at character {i}): send valid Unicode text",
                zh=f"问题里有无效的字符（第{i}个字符）：请重新输入。",
            )
        if code == 0xFFFD or (code & 0xFFFE) == 0xFFFE:
            raise InvalidQuestion(
                f"{what} holds U+{code:04X} at character {i}, a character that was not decoded: "
                "send the text as UTF-8",
                zh=f"问题里有无法识别的字符（第{i}个字符）：请重新输入。",
            )
        if unicodedata.category(ch) == "Cc" and not ch.isspace() and ch != "\u0085":
            raise InvalidQuestion(
                f"{what} holds a control character (U+{code:04X} at character {i}): remove it",
                zh=f"问题里有控制字符（第{i}个字符）：请删除后再试。",
            )
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


def clean_question(question: str | None, max_chars: int) -> str:
    """The question ready to answer.

    Raises:
        EmptyQuestion, QuestionTooLong, InvalidQuestion: each says what to do.
    """
    question = clean_text(question or "")
    if not question:
        raise EmptyQuestion()
    if len(question) > max_chars:
        raise QuestionTooLong(len(question), max_chars)
    return question
