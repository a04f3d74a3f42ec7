"""Sanitising article bodies, plain text, summaries and search terms."""

from __future__ import annotations

import pytest

from services.content.domain import text
from services.content.domain.text import fold, plain_text, sanitise_body, search_terms, summary_from
from services.members import domain

# --- sanitise_body: dangerous things go --------------------------------------


def test_script_tag_and_its_content_are_removed():
    out = sanitise_body("<p>Tin mới</p><script>alert('xss')</script>", "html")
    assert out == "<p>Tin mới</p>"


def test_style_tag_and_its_content_are_removed():
    out = sanitise_body("<style>body { display: none }</style><p>Nội dung</p>", "html")
    assert out == "<p>Nội dung</p>"


def test_script_inside_markdown_is_removed_with_its_content():
    out = sanitise_body("Đoạn văn\n\n<script>document.cookie</script>\n\nĐoạn sau", "markdown")
    assert "script" not in out
    assert "document.cookie" not in out
    assert "<p>Đoạn văn</p>" in out
    assert "<p>Đoạn sau</p>" in out


def test_iframe_is_removed():
    out = sanitise_body('<p>a</p><iframe src="https://evil.example/"></iframe>', "html")
    assert "iframe" not in out
    assert "evil.example" not in out


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "data:text/html,x",
    ],
)
def test_dangerous_link_schemes_lose_their_href(href):
    out = sanitise_body(f'<a href="{href}">bấm</a>', "html")
    assert "href" not in out
    assert "alert" not in out
    assert ">bấm</a>" in out


def test_an_inline_raster_image_is_kept_and_other_data_urls_are_removed():
    kept = '<img src="data:image/png;base64,AAAA" alt="ảnh">'
    assert sanitise_body(kept, "html") == kept
    for other in ("data:image/svg+xml;base64,PHN2Zz4=", "data:text/html,<script>alert(1)</script>"):
        assert sanitise_body(f'<img src="{other}" alt="ảnh">', "html") == '<img alt="ảnh">'
    assert sanitise_body('<a href="data:text/html,x">x</a>', "html") == '<a rel="noopener noreferrer nofollow">x</a>'


def test_an_image_from_another_origin_loses_its_source_and_one_of_the_site_keeps_it():
    for outside in ("https://a.vn/x.jpg", "http://a.vn/x.jpg", "//a.vn/x.jpg", " \t//a.vn/x.jpg", "/\\a.vn/x.jpg",
                    "\\\\a.vn/x.jpg", "/\t/a.vn/x.jpg", "ftp://a.vn/x.jpg", "HTTPS://a.vn/x.jpg"):
        assert sanitise_body(f'<img src="{outside}" alt="ảnh">', "html") == '<img alt="ảnh">', outside
    for inside in ("/api/content/v1/documents/1/file", "anh/hinh.png", "./hinh.png", "?v=1", "#anh"):
        assert sanitise_body(f'<img src="{inside}">', "html") == f'<img src="{inside}">', inside
    assert sanitise_body("![ảnh](https://a.vn/x.jpg)", "markdown") == '<p><img alt="ảnh"></p>'
    # Links to other sites are links, not fetches: they stay.
    assert 'href="https://a.vn/"' in sanitise_body('<a href="https://a.vn/">a.vn</a>', "html")


def test_event_handlers_and_style_attributes_are_removed():
    out = sanitise_body(
        '<img src="https://a.vn/x.jpg" onerror="alert(1)">'
        '<p style="color:red" onclick="steal()" class="x" id="y">chữ</p>',
        "html",
    )
    assert out == "<img><p>chữ</p>"


def test_markdown_javascript_link_is_not_a_link():
    out = sanitise_body("[bấm](javascript:alert(1))", "markdown")
    assert "<a" not in out
    assert "href" not in out


def test_unknown_tags_are_dropped_but_their_text_kept():
    out = sanitise_body("<article><font color=red>Giữ chữ</font></article>", "html")
    assert out == "Giữ chữ"


def test_html_comments_are_removed():
    assert sanitise_body("<p>a<!-- bí mật --></p>", "html") == "<p>a</p>"


def test_empty_href_is_removed():
    assert sanitise_body('<a href="">x</a>', "html") == '<a rel="noopener noreferrer nofollow">x</a>'


def test_unknown_format_is_rejected():
    with pytest.raises(ValueError):
        sanitise_body("x", "rst")  # type: ignore[arg-type]


# --- sanitise_body: good things stay -----------------------------------------


def test_links_keep_href_and_title_and_get_rel():
    out = sanitise_body('<a href="https://hanoi.gov.vn/" title="Cổng" rel="opener" target="_blank">Cổng</a>', "html")
    assert out == '<a href="https://hanoi.gov.vn/" title="Cổng" rel="noopener noreferrer nofollow">Cổng</a>'


def test_mailto_and_relative_links_are_kept():
    out = sanitise_body('<a href="mailto:vp@hanoi.vn">thư</a> <a href="/bai/1">bài</a>', "html")
    assert 'href="mailto:vp@hanoi.vn"' in out
    assert 'href="/bai/1"' in out


def test_safe_article_html_is_kept_as_is():
    html = (
        "<h2>Tiêu đề</h2>"
        "<p><strong>đậm</strong> <em>nghiêng</em> <u>gạch</u> <s>xoá</s> H<sub>2</sub>O x<sup>2</sup></p>"
        "<blockquote><p>Trích dẫn</p></blockquote>"
        "<ol><li>một</li></ol><ul><li>hai</li></ul>"
        '<figure><img src="/api/content/v1/documents/1/file" alt="Ảnh" title="t" width="640" height="480">'
        "<figcaption>Chú thích</figcaption></figure>"
        '<table><thead><tr><th colspan="2">Bảng</th></tr></thead>'
        '<tbody><tr><td rowspan="1">1</td><td>2</td></tr></tbody></table>'
        "<pre><code>mã</code></pre><div><span>khối</span></div><hr><p>dòng<br>mới</p>"
    )
    assert sanitise_body(html, "html") == html


def test_vietnamese_text_is_intact():
    sentence = "Hà Nội triển khai Sổ tay đảng viên điện tử — Nghị quyết số 15-NQ/TU"
    assert sanitise_body(sentence, "html") == sentence
    assert sanitise_body(sentence, "markdown") == f"<p>{sentence}</p>"


def test_markdown_headings_lists_and_links_are_rendered():
    md = "# Sổ tay\n\n## Mục lục\n\n- Điều lệ\n- Nghị quyết\n\n1. Một\n2. Hai\n\n[Cổng thông tin](https://hanoi.gov.vn)"
    out = sanitise_body(md, "markdown")
    assert "<h1>Sổ tay</h1>" in out
    assert "<h2>Mục lục</h2>" in out
    assert "<ul>\n<li>Điều lệ</li>\n<li>Nghị quyết</li>\n</ul>" in out
    assert "<ol>\n<li>Một</li>\n<li>Hai</li>\n</ol>" in out
    assert '<a href="https://hanoi.gov.vn" rel="noopener noreferrer nofollow">Cổng thông tin</a>' in out


def test_markdown_tables_and_emphasis_are_rendered():
    out = sanitise_body("**đậm** và *nghiêng*\n\n| Cột | B |\n|-----|---|\n| 1 | 2 |", "markdown")
    assert "<strong>đậm</strong>" in out
    assert "<em>nghiêng</em>" in out
    assert "<th>Cột</th>" in out
    assert "<td>1</td>" in out


def test_raw_html_in_markdown_is_sanitised_not_escaped():
    out = sanitise_body('Chữ <b onclick="x()">đậm</b>', "markdown")
    assert out == "<p>Chữ <b>đậm</b></p>"


def test_result_is_stripped():
    assert sanitise_body("\n\n  <p>a</p>  \n", "html") == "<p>a</p>"
    assert sanitise_body("a\n", "markdown") == "<p>a</p>"


# --- plain_text and summary_from ---------------------------------------------


def test_plain_text_strips_tags_and_decodes_entities():
    assert plain_text("<p>Tôm &amp; cá &lt;tươi&gt;&nbsp;ngon</p>") == "Tôm & cá <tươi> ngon"


def test_plain_text_separates_blocks_and_collapses_whitespace():
    html = "<h2>Tiêu đề</h2><p>Đoạn  một\n  dòng</p><ul><li>a</li><li>b</li></ul>x<br>y"
    assert plain_text(html) == "Tiêu đề Đoạn một dòng a b x y"


def test_plain_text_keeps_inline_words_together():
    assert plain_text("<p>Hà <strong>Nội</strong>i</p>") == "Hà Nộii"


def test_plain_text_drops_script_content():
    assert plain_text("<p>a</p><script>alert(1)</script>") == "a"


def test_summary_from_short_text_is_unchanged():
    assert summary_from("<p>Ngắn gọn.</p>") == "Ngắn gọn."


def test_summary_from_cuts_at_word_boundary_with_ellipsis():
    html = "<p>Hà Nội triển khai Sổ tay đảng viên điện tử</p>"
    out = summary_from(html, limit=20)
    assert out == "Hà Nội triển khai…"
    assert len(out) <= 20


def test_summary_from_exact_limit_is_not_cut():
    assert summary_from("một hai ba", limit=10) == "một hai ba"
    assert summary_from("một hai ba", limit=9) == "một hai…"


def test_summary_from_cut_just_before_a_space_keeps_the_whole_word():
    # "một hai" is 7 characters; position 8 (index 7) is the space before "ba".
    assert summary_from("một hai ba bốn", limit=8) == "một hai…"


def test_summary_from_single_long_word_is_hard_cut():
    assert summary_from("a" * 50, limit=10) == "a" * 9 + "…"


def test_summary_from_drops_trailing_punctuation_before_ellipsis():
    assert summary_from("Thứ nhất, thứ hai, thứ ba", limit=12) == "Thứ nhất…"


def test_summary_from_default_limit_is_300():
    out = summary_from("<p>" + "chữ " * 200 + "</p>")
    assert len(out) <= 300
    assert len(out) > 290
    assert out.endswith("chữ…")


def test_summary_from_rejects_non_positive_limit():
    with pytest.raises(ValueError):
        summary_from("x", limit=0)


# --- fold and search_terms ---------------------------------------------------


def test_fold_is_the_one_every_service_uses():
    assert text.fold is domain.fold
    assert fold("  Đảng   viên HÀ NỘI ") == "dang vien ha noi"


def test_search_terms_fold_and_split():
    assert search_terms("  Nghị   quyết Đảng\tBộ ") == ["nghi", "quyet", "dang", "bo"]


def test_search_terms_empty_query():
    assert search_terms("   ") == []
    assert search_terms("") == []


def test_search_terms_keeps_at_most_eight_terms():
    assert search_terms("một hai ba bốn năm sáu bảy tám chín mười") == [
        "mot", "hai", "ba", "bon", "nam", "sau", "bay", "tam",
    ]  # fmt: skip


def test_search_terms_cuts_long_terms_to_fifty_characters():
    assert search_terms("x" * 80 + " ngắn") == ["x" * 50, "ngan"]


def test_a_search_term_is_no_like_pattern():
    from services.content.domain.text import contains
    assert contains("50%") == "%50\\%%"
    assert contains("a_b") == "%a\\_b%"
    assert contains("c:\\x") == "%c:\\\\x%"
