"""benchmarks.docs.blocks: the one marker syntax, reading and replacing a block."""
import pytest

from benchmarks.docs.blocks import find_blocks, markers, read_block, replace_block, write_block

PAGE = "# Page\n\n<!-- BEGIN a -->\nold a\n<!-- END a -->\n\ntext\n\n<!-- BEGIN b-2 -->\nold b\n<!-- END b-2 -->\n"


def test_find_read_and_replace(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    assert find_blocks(PAGE) == ["a", "b-2"]
    assert markers("a") == ("<!-- BEGIN a -->", "<!-- END a -->")
    assert read_block(page, "b-2") == "old b"
    write_block(page, "a", "\nnew a\n\n")
    text = page.read_text()
    assert "<!-- BEGIN a -->\nnew a\n<!-- END a -->\n\ntext" in text and "old b" in text
    assert replace_block(text, "a", "x") == text.replace("new a", "x")


def test_missing_markers_name_the_page_and_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    with pytest.raises(SystemExit, match=r"page.md: markers <!-- BEGIN c --> / <!-- END c --> not found"):
        write_block(page, "c", "x")
    with pytest.raises(KeyError, match="BEGIN c"):
        read_block(page, "c")
    assert page.read_text() == PAGE
