"""The built-in feature-based reader, split by concern; `FeatureReader` is its entry point."""
