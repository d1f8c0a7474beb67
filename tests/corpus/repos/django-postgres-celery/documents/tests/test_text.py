from django.test import SimpleTestCase

from documents.text import count_words


class CountWordsTests(SimpleTestCase):
    def test_counts_words(self):
        self.assertEqual(count_words("one two  three"), 3)

    def test_hyphens_and_contractions_count_once(self):
        self.assertEqual(count_words("a well-known fact isn't news"), 5)

    def test_empty(self):
        self.assertEqual(count_words(""), 0)
