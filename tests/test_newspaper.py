"""Plain-text newspaper pages split into articles."""

import json

import pytest

from newsqa.index.newspaper import split_page
from testbed import NEWSPAPER_PAGES
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


@pytest.mark.parametrize("page", sorted(NEWSPAPER_PAGES.glob("*.txt")), ids=lambda p: p.stem)
def test_other_papers_pages_read_as_their_answer_keys(page):
    """Pages of other papers with the layouts that used to fail: headlines ending in ！？!?,
    two-clause headlines, 原标题 lines, opening 【…记者 …】/（记者 …） bylines, 图片来源 credits."""
    expected = json.loads(page.with_suffix(".expected.json").read_text(encoding="utf-8"))["articles"]
    articles = split_page(page.read_text(encoding="utf-8"))
    assert [a.title for a in articles] == [e["title"] for e in expected]
    page_lines = {line.strip() for line in page.read_text(encoding="utf-8").splitlines()}
    for article, want in zip(articles, expected, strict=True):
        assert article.paragraphs == want["paragraphs"], article.title
        assert article.subtitles == want.get("subtitles", []), article.title
        assert article.byline == want.get("byline"), article.title
        assert article.captions == want.get("captions", []), article.title
    # The key itself is verbatim: every expected paragraph without a join is a line of the page.
    assert sum(p in page_lines for e in expected for p in e["paragraphs"]) >= 0.8 * sum(
        len(e["paragraphs"]) for e in expected
    )


def _page(*blocks: str) -> list:
    return split_page("\n".join(blocks))


REPORT = "本报讯（记者 王五）市里昨日召开会议，部署冬季供暖工作。全市供暖管网已检修完毕。"


def test_exclamation_and_question_headlines_before_an_opening():
    articles = _page("家门口的球场开放啦！", REPORT, "夜市能火多久？", "——来自滨河夜市的调查", REPORT)
    assert [a.title for a in articles] == ["家门口的球场开放啦！", "夜市能火多久？"]
    assert articles[1].subtitles == ["——来自滨河夜市的调查"]


def test_question_paragraph_inside_a_body_is_not_a_headline():
    articles = _page(
        "夜市经济调查",
        "本报讯 入夏以来，滨河夜市人气渐旺，摊主却担心同质化。",
        "怎么破解？",
        "市商务局表示，将引导夜市错位经营。",
        "课后服务收费公布",
        "本报讯 市教育局就课后服务收费问题作出回应，按学期收取服务费。",
        "为什么要收费？",
        "负责人解释，收费用于补助参与服务的教师。",
    )
    assert [a.title for a in articles] == ["夜市经济调查", "课后服务收费公布"]
    assert "\n怎么破解？\n" in articles[0].text and "\n为什么要收费？\n" in articles[1].text


def test_exclaimed_headline_without_a_dateline_by_the_words_it_shares():
    articles = _page(
        "供暖准备就绪",
        REPORT,
        "这个“小红本”真管用！",
        "“有了这个‘小红本’，看病心里就有底了。”张大爷说。",
        "今年以来，全区推行签约服务“小红本”，已有4万名居民签约。",
    )
    assert [a.title for a in articles] == ["供暖准备就绪", "这个“小红本”真管用！"]
    quoted = _page("市场见闻", REPORT, "“今年的菜价比去年便宜！”", "摊主老李一边称菜一边说。")
    assert len(quoted) == 1 and "“今年的菜价比去年便宜！”" in quoted[0].paragraphs


def test_two_clause_headline_on_one_line_is_one_title():
    (article,) = _page("稳住外贸基本盘 激发市场新活力", REPORT)
    assert article.title == "稳住外贸基本盘 激发市场新活力" and article.subtitles == []


def test_original_title_lines_are_sub_headlines_wherever_they_stand():
    above, below = _page(
        "加装电梯提速",
        "原标题：今年为200个小区加装电梯",
        REPORT,
        "供暖就绪",
        REPORT,
        "（原标题：《供暖工作全面就绪》）",
    )
    assert above.subtitles == ["原标题：今年为200个小区加装电梯"] and above.text == REPORT
    assert below.subtitles == ["（原标题：《供暖工作全面就绪》）"] and below.text == REPORT


def test_bracketed_bylines_opening_a_body_or_on_their_own_line():
    opening, alone, paren = _page(
        "球场开放",
        "【本报记者 林晓】 “以前打球要骑车去体育中心。”王浩说。",
        "港口繁忙",
        "【海滨时报记者 赵一鸣】",
        "码头上一派繁忙景象。",
        "食堂排长队",
        "（記者 黃志明）",
        "中午十一点刚过，食堂门口已经排起了长队。",
    )
    assert opening.byline == "本报记者 林晓" and opening.text.startswith("【本报记者 林晓】")
    assert alone.byline == "海滨时报记者 赵一鸣" and alone.text == "码头上一派繁忙景象。"
    assert paren.byline == "記者 黃志明" and paren.text.startswith("中午")


def test_photo_credits_inside_a_body_are_captions():
    (article,) = _page("球场开放", REPORT, "图片来源：视觉中国", "下一步还将新建场地。", "圖片來源：資料圖片")
    assert article.captions == ["图片来源：视觉中国", "圖片來源：資料圖片"]
    assert article.text == REPORT + "\n下一步还将新建场地。"


def test_date_and_page_lines_are_page_furniture():
    (article,) = _page(
        "西岭日报 2024年3月8日", "02 要闻", "2023年11月3日　星期五　第5版　民生", "春耕正当时", REPORT
    )
    assert article.title == "春耕正当时"
