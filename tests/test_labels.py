"""The label catalogue: every label in Chinese and English, with the same placeholders."""

import string

import pytest

from geo.app.labels import LABELS


@pytest.mark.parametrize("key", sorted(LABELS))
def test_every_label_is_in_chinese_and_english_with_the_same_placeholders(key):
    entry = LABELS[key]
    assert set(entry) == {"zh", "en"} and entry["zh"] and entry["en"]
    fields = [{f for _, f, _, _ in string.Formatter().parse(entry[lang]) if f}
              for lang in ("zh", "en")]
    assert fields[0] == fields[1]
