"""A long list shown a page at a time: how many pages, and which rows a page covers."""

from __future__ import annotations


def page_count(total: int, size: int) -> int:
    """Pages of `size` rows for `total` rows; an empty list still has its one (empty) page."""
    return max(1, -(-total // size))


def span(page: int, size: int, total: int) -> tuple[int, int]:
    """The positions of page `page`'s (from 0) first and last rows among `total`, from 1
    ((0, 0) when there are none)."""
    if not total:
        return 0, 0
    return page * size + 1, min((page + 1) * size, total)
