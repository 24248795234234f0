"""The `milvus` backend: an index held in Milvus (Milvus Lite embedded, or a Milvus server).

- `client.py`: connecting, and Milvus failures as one-line newsqa errors.
- `schema.py`: the collections of one generation (passages, articles, meta), their
  fields and indexes, and how records become rows and back.
- `store.py`: `MilvusStore`, the read side (`index.backend.Store`).
- `writer.py`: `MilvusWriter`, build/add/remove (`index.backend.StoreWriter`).
- `backend.py`: `MilvusBackend`, what the commands and the web app open.

Only this package imports pymilvus.
"""
