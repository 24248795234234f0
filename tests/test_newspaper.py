"""Plain-text newspaper pages split into articles."""

import pytest

from newsqa.index.newspaper import split_page
from tests.helpers import FIXTURES


@pytest.fixture(scope="module")
def sample_articles(sample_page):
    return split_page(sample_page.read_text(encoding="utf-8"))


def test_sample_page_has_the_expected_seven_articles(sample_articles, expected):
    assert [a.title for a in sample_articles] == [e["title"] for e in expected["articles"]]


def test_sample_page_bodies_start_and_end_where_expected(sample_articles, expected):
    for article, want in zip(sample_articles, expected["articles"], strict=True):
        assert article.text.startswith(want["body_starts"]), article.title
        assert article.text.endswith(want["body_ends"]), article.title
        assert article.subtitles == want["subtitles"], article.title
        assert article.byline == want["byline"], article.title


def test_sample_page_joins_the_six_column_breaks(sample_articles, expected):
    bodies = [a.text for a in sample_articles]
    for left, right in expected["column_breaks_to_join"]:
        assert any(left + right in body for body in bodies), (left, right)
    # A join leaves no line break where the column broke.
    for left, _ in expected["column_breaks_to_join"]:
        assert not any(f"{left}\n" in body for body in bodies), left


def test_sample_page_jump_line_caption_and_verbatim_text(sample_articles, expected, sample_page):
    commentary = next(a for a in sample_articles if a.continued)
    assert "下转" in commentary.continued
    assert "下转" not in "".join(a.text for a in sample_articles)
    with_caption = [a for a in sample_articles if a.captions]
    captions = [e for e in expected["articles"] if e.get("caption")]
    assert [a.captions for a in with_caption] == [[e["caption"]] for e in captions]
    assert all(e["caption"] not in a.text for a in sample_articles for e in captions)
    # Apart from the joins, every paragraph is a line of the page, verbatim.
    page_lines = {line.strip() for line in sample_page.read_text(encoding="utf-8").splitlines()}
    joined = {left for left, _ in expected["column_breaks_to_join"]}
    for article in sample_articles:
        for paragraph in article.paragraphs:
            if not any(left in paragraph for left in joined):
                assert paragraph in page_lines


def test_another_papers_page():
    """A different paper: other datelines, a standalone byline, a two-line title,
    a comma in a headline, page furniture, indented paragraphs, a caption with
    a photographer credit, a commentary at the top whose headline sits by its jump line."""
    articles = split_page((FIXTURES / "jiangcheng_evening_page.txt").read_text(encoding="utf-8"))
    assert [a.title for a in articles] == [
        "让“一老一小”都有好去处",
        "春季招聘会今日开幕，3000余个岗位等你来",
        "关于加快推进城市地下管网改造的实施意见印发",
        "老街坊的新食堂",
        "江城地铁5号线进入联调联试",
    ]
    commentary, jobs, policy, canteen, metro = articles
    assert commentary.continued == "（转A03版）"
    assert commentary.text.startswith("在不少社区") and commentary.text.endswith("长久开下去。")
    assert jobs.subtitles == ["——42家重点企业现场招才引智"]
    assert jobs.byline == "记者 王明 通讯员 李华"
    assert "学历岗位占四成以上" in jobs.text  # the column break is joined
    assert jobs.text.endswith("招聘会将持续至3月15日。")
    assert policy.subtitles == ["到2027年完成老旧管网改造600公里"]
    assert policy.byline == "记者 张伟"
    assert policy.text.startswith("新华社北京3月11日电")
    assert canteen.byline == "本报记者 陈静"
    assert canteen.text.startswith("早上十点半")
    assert canteen.captions == ["图为老人们在社区食堂用餐。（本报记者 赵刚 摄）"]
    assert metro.byline is None and metro.text.startswith("记者从市轨道交通集团获悉")
    everything = "".join(a.text for a in articles)
    for furniture in ("责任编辑", "星期三", "A02 要闻"):
        assert furniture not in everything


def test_mostly_ascii_punctuated_page_with_an_english_article():
    articles = split_page((FIXTURES / "ascii_punctuated_page.txt").read_text(encoding="utf-8"))
    assert [a.title for a in articles] == [
        "市民文化节开幕, 活动持续一个月",
        "Port traffic rises 8% in first quarter",
        "江滨步道改造完工",
    ]
    festival, port, walkway = articles
    assert festival.byline == "记者 周然"
    assert '走进文化场馆."' in festival.text
    assert port.text.startswith("HAIKOU, April 2 (Xinhua) - ")
    assert "faster than bulk cargo, driven" in port.text
    assert walkway.text == "江滨步道改造工程近日完工.改造后的步道全长4.2公里,新增休息座椅60组."


def test_hard_wrapped_page_is_read_as_paragraphs():
    body = (
        "本报讯 市图书馆昨日推出夜间开放服务，每周五、周六开放至晚上十点，方便上班族\n"
        "下班后借阅图书。馆方介绍，夜间开放期间提供自助借还、少儿阅读区和自习座位，\n"
        "读者凭借阅证即可入馆。据统计，试运行一个月来，夜间入馆读者已超过一万人次，\n"
        "其中青年读者占比超过六成。\n"
        "馆长表示，下一步将根据读者需求增加夜间讲座和展览活动，让图书馆真正成为城市\n"
        "书房。同时还将推出线上预约服务，读者可以提前预约座位和借阅图书，节省排队时\n"
        "间。图书馆还计划与社区合作，在周边社区设立图书流通点，方便居民就近借阅。\n"
    )
    articles = split_page("图书馆推出夜间开放服务\n" + body)
    assert len(articles) == 1
    (article,) = articles
    assert article.title == "图书馆推出夜间开放服务"
    assert article.paragraphs[0].startswith("本报讯") and "上班族下班后" in article.paragraphs[0]
    assert article.text.endswith("方便居民就近借阅。")


def test_page_without_headlines_gets_a_title_from_its_first_clause():
    (article,) = split_page("今天天气晴朗，气温回升。市民纷纷外出踏青。")
    assert article.title == "今天天气晴朗…"
    assert article.text == "今天天气晴朗，气温回升。市民纷纷外出踏青。"


def test_empty_page_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        split_page(" \n\n \n")
