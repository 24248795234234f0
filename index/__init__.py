"""Building the index: sources → articles → passages → vectors and BM25."""
