"""The readers, behind the one `Reader` protocol of qa/types.py, chosen by name.

- `features`: the built-in feature-based reader (qa/readers/features/).
- `hf:<name-or-path>`: a transformers extractive QA model from disk or the local cache.
"""

from newsqa.config import Settings
from newsqa.index.backend import Store
from newsqa.qa.types import Reader


def load_reader(spec: str, snapshot: Store, settings: Settings) -> Reader:
    """The reader `spec` names ('features' or 'hf:<name-or-path>'), not yet warmed up."""
    if spec.startswith("hf:"):
        from newsqa.qa.readers.hf import HFReader

        return HFReader(spec.removeprefix("hf:"), device=settings.device)
    from newsqa.qa.readers.features.reader import FeatureReader

    return FeatureReader(term_weight=snapshot.term_weights)
