"""Answering: retrieval, the reader, and the Answerer API."""
