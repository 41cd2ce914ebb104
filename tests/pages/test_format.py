"""Small formatters pages use."""

from ui.format import plain_markdown


def test_plain_markdown_shows_names_literally():
    assert plain_markdown("[x](http://e.vil) **b** <i>") == (
        r"\[x\]\(http\://e\.vil\) \*\*b\*\* \<i\>"
    )
    assert plain_markdown("Sam Ortiz") == "Sam Ortiz"
