import unittest

from app import add_note, render


class NotesTest(unittest.TestCase):
    def test_add_note(self):
        self.assertEqual(add_note(["a"], " b "), ["a", "b"])

    def test_empty_note_is_refused(self):
        with self.assertRaises(ValueError):
            add_note([], "   ")

    def test_render_escapes(self):
        self.assertIn("&lt;b&gt;", render(["<b>"]))


if __name__ == "__main__":
    unittest.main()
